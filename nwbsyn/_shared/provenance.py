"""ModelProvenance for schema 0.2: weights referenced by sha256 + origin, embedded only on request.

The model card goes into a text dataset (no 64 KiB attribute limit). Writers call
:func:`model_provenance` instead of :func:`nwbsyn._shared.nwb.make_provenance` (which still works),
and :func:`card_provenance` / :func:`provenance_from_card` where a model card exists: the one place
a card (:data:`nwbsyn._shared.checkpoint.CARD_KEYS`) becomes provenance.

Example
-------
>>> prov = model_provenance(name="m", model_name="demo", architecture="MLP", method="test",
...                         parameters={"threshold": 0.5})
>>> prov.weights is None, prov.weights_origin
(True, 'none: the model was fitted on this file')
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

__all__ = ["model_provenance", "card_provenance", "provenance_from_card", "weights_origin"]


def weights_origin(path) -> str:
    """Where a weights file came from: ``'nwbsyn X.Y.Z: nwbsyn/<file>'`` for shipped models, else its path."""
    import nwbsyn

    path = Path(path).resolve()
    package = Path(nwbsyn.__file__).resolve().parent
    if path.is_relative_to(package):
        return f"nwbsyn {nwbsyn.__version__}: nwbsyn/{path.relative_to(package).as_posix()}"
    return str(path)


def model_provenance(*, name: str, model_name: str, architecture: str, method: str, parameters: dict,
                     weights_path=None, model_card: dict | None = None, training_recipe: str | None = None,
                     embed_weights: bool = False, weights_format: str | None = None):
    """A :class:`~nwbsyn.types.ModelProvenance` for a result made with the weights in ``weights_path``.

    Parameters
    ----------
    weights_path : str or Path, optional
        The weights file; None for a model fitted on the file itself (no weights file).
    model_card : dict, optional
        Stored as JSON in the ``model_card`` text dataset.
    embed_weights : bool, default: False
        Also store the bytes of ``weights_path`` (about 2 MB for the shipped networks); otherwise the file
        holds only the reference (``weights_sha256`` + ``weights_origin``).
    """
    from nwbsyn import __version__
    from nwbsyn._shared import sha256_of_file
    from nwbsyn._shared.checkpoint import weights_format_of
    from nwbsyn.types import ModelProvenance

    path = Path(weights_path) if weights_path is not None else None
    embed = bool(embed_weights and path is not None)
    return ModelProvenance(
        name=name, model_name=model_name, architecture=architecture, method=method, nwbsyn_version=__version__,
        weights_sha256=sha256_of_file(path) if path is not None else "",
        weights_origin=weights_origin(path) if path is not None else "none: the model was fitted on this file",
        parameters=json.dumps(parameters, sort_keys=True, default=str), training_recipe=training_recipe,
        model_card=None if not model_card else json.dumps(model_card, sort_keys=True, default=str),
        weights=np.frombuffer(path.read_bytes(), dtype=np.uint8) if embed else None,
        weights_format=(weights_format or weights_format_of(path)) if embed else None,
    )


def _text(value):
    return value if value is None or isinstance(value, str) else json.dumps(value, sort_keys=True, default=str)


def card_provenance(*, method: str, parameters: dict, weights_path=None, card: dict | None = None,
                    model_name: str | None = None, architecture: str | None = None,
                    training_recipe: str | None = None, embed_weights: bool = False) -> dict:
    """The keyword arguments of :func:`model_provenance` (all but ``name``) from a model card.

    What every analysis's ``add_results(..., provenance=...)`` takes. ``card`` defaults to the
    ``<stem>.card.json`` beside ``weights_path`` (a missing or damaged card is left out). The
    card's ``name``, ``architecture`` (text) and ``training_recipe`` (or ``training_data``) win
    over the arguments, which are the fallbacks; the card is kept without its training ``history``.

    Example
    -------
    >>> kw = card_provenance(method="test", parameters={}, model_name="fitted", card={"architecture": "MLP"})
    >>> kw["model_name"], kw["architecture"]
    ('fitted', 'MLP')
    """
    from nwbsyn._shared.checkpoint import read_model_card

    path = Path(weights_path) if weights_path is not None else None
    card = dict(card if card is not None else read_model_card(path) if path is not None else {})
    card.pop("history", None)
    card_name, card_arch = card.get("name"), card.get("architecture")
    recipe = card.get("training_recipe", card.get("training_data"))
    return dict(
        method=method, parameters=parameters, weights_path=path, model_card=card or None, embed_weights=embed_weights,
        model_name=card_name if isinstance(card_name, str) and card_name else
        model_name or (path.stem if path is not None else "in-memory network"),
        architecture=card_arch if isinstance(card_arch, str) and card_arch else
        architecture or _text(card_arch) or "unknown",
        training_recipe=_text(recipe) if recipe is not None else training_recipe)


def provenance_from_card(*, name: str, **kwargs):
    """A :class:`~nwbsyn.types.ModelProvenance` named ``name`` from a card: :func:`card_provenance`'s
    arguments, then :func:`model_provenance`.

    Example
    -------
    >>> prov = provenance_from_card(name="m", method="test", parameters={}, model_name="fitted",
    ...                             card={"name": "demo", "architecture": "MLP", "history": [1, 2]})
    >>> prov.model_name, prov.architecture, "history" in prov.model_card
    ('demo', 'MLP', False)
    """
    return model_provenance(name=name, **card_provenance(**kwargs))
