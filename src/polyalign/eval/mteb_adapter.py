"""Run polyalign models under MTEB (``pip install polyalign[mteb]``, needs the internet for MTEB's data).

MTEB calls ``model.encode(sentences, **kwargs)``; :class:`MtebEncoder` answers with numpy embeddings,
applying the prompt polyalign evaluates with (E5: ``"query: "``) so MTEB and ``polyalign eval``
numbers are comparable. Usage::

    import mteb
    from polyalign.models import load_encoder
    from polyalign.eval.mteb_adapter import MtebEncoder

    model = MtebEncoder(load_encoder("me5-small-q4"))
    tasks = mteb.get_tasks(tasks=["Tatoeba", "STS17", "SIB200Classification"])
    mteb.MTEB(tasks=tasks).run(model, output_folder="results/mteb")

Prompts: by default every text gets the model's own default prompt (as in ``polyalign eval``).
``prompts={"query": "query: ", "passage": "passage: "}`` instead picks the prompt by MTEB's
``prompt_type`` keyword (retrieval tasks), falling back to ``prompt``. The keyword arguments MTEB
passes (``task_name``, ``prompt_type``, ``batch_size``, ...) are accepted whatever its version; MTEB 2's
``DataLoader`` of ``{"text": [...]}`` batches is accepted too.
"""

from __future__ import annotations

import numpy as np

from .encode import Encoder


class MtebEncoder:
    """A thin MTEB-compatible wrapper around a polyalign / sentence-transformers model."""

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
        self._by_prompt: dict[str | None, Encoder] = {}
        self.model_card_data = {"model_name": name or self.encoder.name}

    @property
    def prompt(self) -> str | None:
        """The default prompt applied to every text (None: no prompt)."""
        return self.encoder.prompt

    def _encoder_for(self, prompt_type) -> Encoder:
        key = getattr(prompt_type, "value", prompt_type)
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
    def _texts(sentences) -> list[str]:
        if isinstance(sentences, str):
            return [sentences]
        texts: list[str] = []
        for item in sentences:
            if isinstance(item, dict):  # MTEB 2 passes batches {"text": [...]} through a DataLoader
                batch = item.get("text", [])
                texts += [batch] if isinstance(batch, str) else list(batch)
            else:
                texts.append(str(item))
        return texts

    def encode(self, sentences, **kwargs) -> np.ndarray:
        """Embeddings ``(len(sentences), dim)``, L2-normalised, float32."""
        enc = self._encoder_for(kwargs.get("prompt_type"))
        if "batch_size" in kwargs:
            enc.batch_size = int(kwargs["batch_size"])
        texts = self._texts(sentences)
        if not texts:
            return np.zeros((0, 0), dtype=np.float32)
        return enc.encode(texts)

    # Older MTEB versions look for these on models for retrieval tasks.
    def encode_queries(self, queries, **kwargs) -> np.ndarray:
        return self.encode(queries, prompt_type="query", **kwargs)

    def encode_corpus(self, corpus, **kwargs) -> np.ndarray:
        if isinstance(corpus, dict):
            corpus = [
                f"{t} {x}".strip()
                for t, x in zip(corpus.get("title", [""] * len(corpus["text"])), corpus["text"])
            ]
        elif corpus and isinstance(corpus[0], dict) and "text" in corpus[0] and "title" in corpus[0]:
            corpus = [f"{d.get('title', '')} {d['text']}".strip() for d in corpus]
        return self.encode(corpus, prompt_type="passage", **kwargs)
