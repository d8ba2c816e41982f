"""Run polyalign models under mteb 2 (``pip install polyalign[mteb]``: ``mteb>=2.1,<3``).

:class:`MtebEncoder` implements mteb 2's ``EncoderProtocol``: ``encode(inputs, *, task_metadata,
hf_split, hf_subset, prompt_type=None, **kwargs)`` takes mteb's ``DataLoader`` of ``{"text": [...]}``
batches (a plain list of strings works too) and returns L2-normalised float32 numpy embeddings;
``similarity`` / ``similarity_pairwise`` are cosine (mteb's ``cos_sim`` / ``pairwise_cos_sim``);
``mteb_model_meta`` names the model (``name``, else the model's path or hub id; mteb wants an
``org/model`` form, so a bare name becomes ``polyalign/<name>``) with the weights' fingerprint (and
the prompt's hash) as its revision, so mteb's result cache never mixes two checkpoints saved under
one name. Usage::

    import mteb
    from polyalign.models import load_encoder
    from polyalign.eval.mteb_adapter import MtebEncoder

    model = MtebEncoder(load_encoder("me5-small-q4"), name="polyalign/me5-small-q4")
    tasks = mteb.get_tasks(tasks=["Tatoeba", "STS17", "SIB200Classification"])
    results = mteb.evaluate(model, tasks)  # results cached in ~/.cache/mteb; cache=None: none

Data: online, mteb downloads each task's data from the Hugging Face hub. Offline (no hub) a task
needs its data set locally before ``mteb.evaluate``: ``task.dataset = {subset: DatasetDict(...)}``
in the task's own columns, then ``task.data_loaded = True`` (what ``tests/test_mteb_adapter.py``
does). ``mteb.MTEB(...).run`` is deprecated in mteb 2; mteb 1 is not supported.

Prompts: by default every text gets the model's own default prompt (E5: ``"query: "``), as in
``polyalign eval``, so mteb's and polyalign's numbers agree where the protocols do: SIB-200
``accuracy`` and STS ``spearman`` (x100) equal mteb's ``accuracy`` / ``cosine_spearman``; polyalign's
Tatoeba ``accuracy_xx2en`` is mteb's Tatoeba ``accuracy`` (mteb's main score there is F1, and
polyalign's ``accuracy`` is the mean of both directions). ``prompts={"query": "query: ",
"document": "passage: "}`` picks the prompt by mteb's ``prompt_type`` (retrieval tasks; ``"passage"``
is accepted for ``"document"``), falling back to ``prompt``.
"""

from __future__ import annotations

import hashlib

import numpy as np

from .encode import Encoder


def _mteb_name(name: str) -> str:
    """mteb's ModelMeta wants ``org/model``: a bare name gets a ``polyalign/`` prefix, a path loses its root."""
    name = name.strip().lstrip("./").rstrip("/") or "model"
    return name if "/" in name else f"polyalign/{name}"


class MtebEncoder:
    """A polyalign / sentence-transformers model as an mteb 2 ``EncoderProtocol``."""

    def __init__(
        self,
        model,
        prompt: str | None = None,
        prompts: dict[str, str] | None = None,
        batch_size: int = 32,
        name: str | None = None,
    ):
        self.encoder = Encoder(
            model, prompt=prompt, batch_size=batch_size, use_cache=False, show_progress=False
        )
        self.model = model
        self.prompts = dict(prompts or {})
        if "passage" in self.prompts:  # E5's word for mteb's "document"
            self.prompts.setdefault("document", self.prompts["passage"])
        self.name = _mteb_name(name or self.encoder.name)
        self._by_prompt: dict[str, Encoder] = {}

    @property
    def prompt(self) -> str | None:
        """The default prompt applied to every text (None: no prompt)."""
        return self.encoder.prompt

    def _encoder_for(self, prompt_type) -> Encoder:
        key = getattr(prompt_type, "value", prompt_type)  # mteb's PromptType is a str enum
        if key is None or key not in self.prompts:
            return self.encoder
        if key not in self._by_prompt:
            self._by_prompt[key] = Encoder(
                self.model,
                prompt=self.prompts[key],
                batch_size=self.encoder.batch_size,
                use_cache=False,
                show_progress=False,
            )
        return self._by_prompt[key]

    @staticmethod
    def _texts(inputs) -> list[str]:
        if isinstance(inputs, str):
            return [inputs]
        texts: list[str] = []
        for item in inputs:
            if isinstance(item, dict):  # a DataLoader batch {"text": [...], ...}
                batch = item["text"]
                texts += [batch] if isinstance(batch, str) else list(batch)
            else:
                texts.append(str(item))
        return texts

    def encode(
        self,
        inputs,
        *,
        task_metadata=None,
        hf_split: str | None = None,
        hf_subset: str | None = None,
        prompt_type=None,
        **kwargs,
    ) -> np.ndarray:
        """Embeddings ``(n_texts, dim)``, L2-normalised, float32 (``batch_size`` in kwargs is honoured)."""
        enc = self._encoder_for(prompt_type)
        if "batch_size" in kwargs:
            enc.batch_size = int(kwargs["batch_size"])
        texts = self._texts(inputs)
        if not texts:
            return np.zeros((0, 0), dtype=np.float32)
        return enc.encode(texts)

    def similarity(self, embeddings1, embeddings2):
        """Cosine similarity matrix ``(len(embeddings1), len(embeddings2))`` (a torch tensor)."""
        from mteb.similarity_functions import cos_sim

        return cos_sim(embeddings1, embeddings2)

    def similarity_pairwise(self, embeddings1, embeddings2):
        """Cosine of each row of ``embeddings1`` with the same row of ``embeddings2``."""
        from mteb.similarity_functions import pairwise_cos_sim

        return pairwise_cos_sim(embeddings1, embeddings2)

    @property
    def revision(self) -> str:
        """The weights' fingerprint, plus a hash of the prompt when there is one (it changes the scores)."""
        if not self.prompt:
            return self.encoder.fingerprint
        return f"{self.encoder.fingerprint}-p{hashlib.sha256(self.prompt.encode()).hexdigest()[:8]}"

    @property
    def mteb_model_meta(self):
        """mteb's ``ModelMeta``: :attr:`name`, :attr:`revision`, cosine similarity; the rest unknown."""
        from mteb.models import ModelMeta

        max_len = getattr(self.model, "max_seq_length", None)
        # Every field is given: the ones mteb 2.0 requires, none that later 2.x releases added.
        return ModelMeta(
            loader=None,
            name=self.name,
            revision=self.revision,
            release_date=None,
            languages=None,
            n_parameters=None,
            memory_usage_mb=None,
            max_tokens=max_len if isinstance(max_len, int) else None,
            embed_dim=None,
            license=None,
            open_weights=None,
            public_training_code=None,
            public_training_data=None,
            framework=["Sentence Transformers", "PyTorch"] if self.encoder.is_st else ["PyTorch"],
            similarity_fn_name="cosine",
            use_instructions=None,
            training_datasets=None,
        )
