"""Language codes across corpora.

XNLI and STS use ISO 639-1 (``de``), Tatoeba ISO 639-3 (``deu``, ``cmn``), FLORES-200 and SIB-200
ISO 639-3 plus script (``deu_Latn``, ``zho_Hans``). ``canonical`` maps all of them to one key so that
"is this language seen in training?" has one answer whichever corpus asks.
"""

from __future__ import annotations

# ISO 639-1 -> ISO 639-3 (the code FLORES/Tatoeba use for the main variety).
ISO1_TO_ISO3 = {
    "af": "afr",
    "am": "amh",
    "ar": "ara",
    "as": "asm",
    "az": "aze",
    "be": "bel",
    "bg": "bul",
    "bn": "ben",
    "bo": "bod",
    "br": "bre",
    "bs": "bos",
    "ca": "cat",
    "cs": "ces",
    "cy": "cym",
    "da": "dan",
    "de": "deu",
    "el": "ell",
    "en": "eng",
    "eo": "epo",
    "es": "spa",
    "et": "est",
    "eu": "eus",
    "fa": "fas",
    "fi": "fin",
    "fo": "fao",
    "fr": "fra",
    "fy": "fry",
    "ga": "gle",
    "gd": "gla",
    "gl": "glg",
    "gu": "guj",
    "ha": "hau",
    "he": "heb",
    "hi": "hin",
    "hr": "hrv",
    "ht": "hat",
    "hu": "hun",
    "hy": "hye",
    "id": "ind",
    "ig": "ibo",
    "is": "isl",
    "it": "ita",
    "ja": "jpn",
    "jv": "jav",
    "ka": "kat",
    "kk": "kaz",
    "km": "khm",
    "kn": "kan",
    "ko": "kor",
    "ku": "kur",
    "ky": "kir",
    "la": "lat",
    "lb": "ltz",
    "lo": "lao",
    "lt": "lit",
    "lv": "lav",
    "mg": "mlg",
    "mi": "mri",
    "mk": "mkd",
    "ml": "mal",
    "mn": "mon",
    "mr": "mar",
    "ms": "msa",
    "mt": "mlt",
    "my": "mya",
    "nb": "nob",
    "ne": "npi",
    "nl": "nld",
    "nn": "nno",
    "no": "nob",
    "oc": "oci",
    "or": "ory",
    "pa": "pan",
    "pl": "pol",
    "ps": "pbt",
    "pt": "por",
    "ro": "ron",
    "ru": "rus",
    "sa": "san",
    "sd": "snd",
    "si": "sin",
    "sk": "slk",
    "sl": "slv",
    "so": "som",
    "sq": "sqi",
    "sr": "srp",
    "su": "sun",
    "sv": "swe",
    "sw": "swa",
    "ta": "tam",
    "te": "tel",
    "tg": "tgk",
    "th": "tha",
    "tl": "tgl",
    "tr": "tur",
    "tt": "tat",
    "ug": "uig",
    "uk": "ukr",
    "ur": "urd",
    "uz": "uzb",
    "vi": "vie",
    "xh": "xho",
    "yi": "yid",
    "yo": "yor",
    "zh": "zho",
    "zu": "zul",
}

# Individual languages / variants folded into one key (macrolanguage or same written standard).
ALIASES = {
    "cmn": "zho",
    "arb": "ara",
    "swh": "swa",
    "pes": "fas",
    "prs": "fas",
    "zsm": "msa",
    "lvs": "lav",
    "khk": "mon",
    "uzn": "uzb",
    "als": "sqi",
    "azj": "aze",
    "ydd": "yid",
    "plt": "mlg",
    "npi": "npi",
    "gaz": "orm",
    "ekk": "est",
    "kmr": "kur",
}

ISO3_TO_ISO1 = {v: k for k, v in ISO1_TO_ISO3.items() if k not in ("no",)}


def canonical(code: str) -> str:
    """One key per language: ``de``, ``deu`` and ``deu_Latn`` all give ``deu``; ``zh``/``cmn``/
    ``zho_Hans`` give ``zho``. Unknown codes pass through lower-cased (minus any script suffix)."""
    base = code.strip().replace("-", "_").split("_")[0].lower()
    if len(base) == 2:
        base = ISO1_TO_ISO3.get(base, base)
    return ALIASES.get(base, base)


def same_language(a: str, b: str) -> bool:
    return canonical(a) == canonical(b)


def is_seen(code: str, seen: list[str] | set[str] | None) -> bool | None:
    """True/False when a list of training languages is known, None when it is not."""
    if seen is None:
        return None
    keys = {canonical(s) for s in seen}
    return canonical(code) in keys


def parse_lang_list(text: str | list[str] | None) -> list[str]:
    """Accept ``"en,de, fr"`` or a list; keep order, drop duplicates and blanks."""
    if text is None:
        return []
    items = text.split(",") if isinstance(text, str) else list(text)
    out: list[str] = []
    for item in items:
        item = item.strip()
        if item and item not in out:
            out.append(item)
    return out


# ISO 15924 script of a language's usual written form (canonical ISO 639-3 keys), for cheap
# language-mismatch checks (``polyalign mine``). A FLORES-style code (``srp_Cyrl``) names its
# script itself; languages written in several scripts without such a suffix are left out.
SCRIPTS = {
    **dict.fromkeys(
        "afr ast bos cat ces cym dan deu eng epo est eus fao fin fra fry gla gle glg hat hau hrv hun ibo "
        "ind isl ita jav lat lav lit ltz mlg mlt mri msa nld nno nob oci orm pol por ron slk slv som "
        "spa sqi sun swa swe tgl tur uzb vie xho yor zul aze tuk kin lin lug nya sna tsn wol ceb ilo "
        "war fil".split(),
        "Latn",
    ),
    **dict.fromkeys("bel bul kaz kir mkd mon rus srp tat tgk ukr bak chv".split(), "Cyrl"),
    **dict.fromkeys("ara fas pbt snd uig urd ckb".split(), "Arab"),
    **dict.fromkeys("hin mar npi san awa bho mai".split(), "Deva"),
    **dict.fromkeys("ben asm".split(), "Beng"),
    "zho": "Hani",
    "jpn": "Jpan",
    "kor": "Kore",
    "tha": "Thai",
    "ell": "Grek",
    "heb": "Hebr",
    "yid": "Hebr",
    "amh": "Ethi",
    "tir": "Ethi",
    "khm": "Khmr",
    "kat": "Geor",
    "hye": "Armn",
    "tam": "Taml",
    "tel": "Telu",
    "kan": "Knda",
    "mal": "Mlym",
    "guj": "Gujr",
    "pan": "Guru",
    "ory": "Orya",
    "sin": "Sinh",
    "mya": "Mymr",
    "lao": "Laoo",
    "bod": "Tibt",
    "div": "Thaa",
}


def expected_script(code: str) -> str | None:
    """The ISO 15924 script a language is expected in: the code's own suffix (``deu_Latn``), else
    :data:`SCRIPTS`; None when unknown (no check possible)."""
    parts = code.strip().replace("-", "_").split("_")
    if len(parts) > 1 and len(parts[-1]) == 4 and parts[-1].isalpha():
        return parts[-1].capitalize()
    return SCRIPTS.get(canonical(code))
