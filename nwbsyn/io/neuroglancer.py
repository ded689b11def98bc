"""Export a partner result to neuroglancer: precomputed volumes, precomputed annotations and a viewer state.

``nwbsyn partners export RESULT.nwb -o DIR`` writes::

    DIR/image/          EM image, neuroglancer precomputed (uint8, raw chunks)      via tensorstore
    DIR/segmentation/   neurite segmentation (uint64, compressed_segmentation)     via tensorstore
    DIR/clefts/         cleft label volume (uint64, compressed_segmentation)       via tensorstore
    DIR/cleft_points/   precomputed annotations: a POINT per cleft (id = cleft id; properties
                        score, confidence, low_confidence, num_voxels)
    DIR/partner_edges/  precomputed annotations: a LINE per pre -> post edge, from the presynaptic
                        side of its cleft to the postsynaptic side (id = edge row + 1; properties
                        cleft_id, presynaptic_score, postsynaptic_score, confidence, low_confidence;
                        relationships presynaptic / postsynaptic segment)
    DIR/state.json      a neuroglancer state that opens them together (sources under --url-prefix)

The volumes need the optional extra ``nwbsyn[neuroglancer]`` (tensorstore, which reads and
writes the precomputed format); the annotations are written here after the format
specification (neuroglancer ``src/datasource/precomputed/annotations.md``): a single spatial
chunk holding every annotation, one ``by_id`` file per annotation and one file per related
segment. Volumes are copied in slabs of sections, so memory stays bounded. The export is
built in a temporary folder beside DIR and renamed into place; an existing DIR is refused.
"""

from __future__ import annotations

import json
import os
import shutil
import struct
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from nwbsyn._shared import InputError

__all__ = ["ExportResult", "export_neuroglancer", "encode_annotations", "DEFAULT_URL_PREFIX"]

DEFAULT_URL_PREFIX = "http://127.0.0.1:9000"
_SIZES = {"float32": 4, "uint32": 4, "int32": 4, "uint16": 2, "int16": 2, "uint8": 1, "int8": 1}
_FORMATS = {"float32": "<f", "uint32": "<I", "int32": "<i", "uint16": "<H", "int16": "<h", "uint8": "<B",
            "int8": "<b"}


@dataclass(frozen=True)
class ExportResult:
    """What was written: the folder, its layers and the counts of annotations."""

    folder: Path
    layers: tuple
    n_points: int
    n_lines: int
    state_path: Path


def _encode_one(geometry, values: dict, properties: list) -> bytes:
    """Geometry (float32) then the properties, 4-byte types first, then 2-byte, then 1-byte, padded to 4."""
    out = struct.pack(f"<{len(geometry)}f", *[float(v) for v in geometry])
    for size in (4, 2, 1):
        for prop in properties:
            if _SIZES[prop["type"]] == size:
                out += struct.pack(_FORMATS[prop["type"]], values[prop["id"]])
    return out + b"\0" * (-len(out) % 4)


def encode_annotations(ids, geometries, values: list[dict], properties: list) -> bytes:
    """A multiple-annotation chunk: uint64le count, the annotations, then their uint64le ids.

    Example
    -------
    >>> props = [{"id": "score", "type": "float32"}]
    >>> data = encode_annotations([7], [(1.0, 2.0, 3.0)], [{"score": 0.5}], props)
    >>> len(data), struct.unpack("<Q", data[:8])[0]
    (32, 1)
    """
    body = b"".join(_encode_one(g, v, properties) for g, v in zip(geometries, values))
    return struct.pack("<Q", len(ids)) + body + struct.pack(f"<{len(ids)}Q", *[int(i) for i in ids])


def _write_annotations(folder: Path, *, kind: str, ids, geometries, values, properties, relationships: dict,
                       dimensions: dict, lower, upper) -> None:
    """One precomputed annotation layer (``kind`` POINT or LINE) with a single spatial chunk."""
    folder.mkdir(parents=True)
    lower = np.asarray(lower, float)
    upper = np.maximum(np.asarray(upper, float), lower + 1)
    info = {
        "@type": "neuroglancer_annotations_v1", "dimensions": dimensions, "lower_bound": lower.tolist(),
        "upper_bound": upper.tolist(), "annotation_type": kind, "properties": properties,
        "relationships": [{"id": name, "key": f"rel_{name}"} for name in relationships],
        "by_id": {"key": "by_id"},
        "spatial": [{"key": "spatial0", "grid_shape": [1, 1, 1], "chunk_size": (upper - lower).tolist(),
                     "limit": max(1, len(ids))}],
    }
    (folder / "info").write_text(json.dumps(info, indent=1))
    (folder / "spatial0").mkdir()
    (folder / "spatial0" / "0_0_0").write_bytes(encode_annotations(ids, geometries, values, properties))
    (folder / "by_id").mkdir()
    for k, (i, g, v) in enumerate(zip(ids, geometries, values)):
        data = _encode_one(g, v, properties)
        for related in relationships.values():
            segs = [int(s) for s in related[k]]
            data += struct.pack(f"<I{len(segs)}Q", len(segs), *segs)
        (folder / "by_id" / str(int(i))).write_bytes(data)
    for name, related in relationships.items():
        (folder / f"rel_{name}").mkdir()
        members: dict[int, list[int]] = {}
        for k, segs in enumerate(related):
            for s in segs:
                members.setdefault(int(s), []).append(k)
        for seg, rows in members.items():
            (folder / f"rel_{name}" / str(seg)).write_bytes(
                encode_annotations([ids[r] for r in rows], [geometries[r] for r in rows], [values[r] for r in rows],
                                   properties))


def _tensorstore():
    try:
        import tensorstore
    except ImportError:
        from nwbsyn._shared import MissingExtraError

        raise MissingExtraError("Writing neuroglancer precomputed volumes needs tensorstore; install it with "
                                "pip install 'nwbsyn[neuroglancer]'.") from None
    return tensorstore


def _write_volume(folder: Path, data, *, kind: str, voxel_size_nm, offset_vox=(0, 0, 0), slab: int = 16) -> None:
    """A (z, y, x) array or lazy dataset as a precomputed volume (x, y, z, channel), a slab of sections at a time."""
    ts = _tensorstore()
    shape = tuple(int(n) for n in data.shape)
    dtype = "uint8" if kind == "image" else "uint64"
    chunk = [min(64, shape[2]), min(64, shape[1]), min(16, shape[0])]
    spec = {
        "driver": "neuroglancer_precomputed", "kvstore": {"driver": "file", "path": str(folder)},
        "multiscale_metadata": {"type": kind, "data_type": dtype, "num_channels": 1},
        "scale_metadata": {"size": [shape[2], shape[1], shape[0]], "chunk_size": chunk,
                           **({"encoding": "raw"} if kind == "image" else
                              {"encoding": "compressed_segmentation", "compressed_segmentation_block_size": [8, 8, 8]}),
                           "resolution": [float(voxel_size_nm[2]), float(voxel_size_nm[1]), float(voxel_size_nm[0])],
                           "voxel_offset": [int(offset_vox[2]), int(offset_vox[1]), int(offset_vox[0])]},
        "create": True,
    }
    store = ts.open(spec).result()
    lo = [int(v) for v in (offset_vox[2], offset_vox[1], offset_vox[0])]
    for z0 in range(0, shape[0], slab):
        z1 = min(shape[0], z0 + slab)
        block = np.asarray(data[z0:z1]).astype(dtype, copy=False)
        store[lo[0]:lo[0] + shape[2], lo[1]:lo[1] + shape[1], lo[2] + z0:lo[2] + z1, 0] = \
            np.ascontiguousarray(block.transpose(2, 1, 0))


def _sides(segmentation, labels, box, cleft_id, pre, post, shape):
    """Mean positions (z, y, x voxels) of the presynaptic and postsynaptic voxels next to one cleft."""
    pad = (1, 4, 4)
    sl = tuple(slice(max(0, int(a) - p), min(n, int(b) + p)) for a, b, p, n in zip(box[:3], box[3:], pad, shape))
    seg = np.asarray(segmentation[sl])
    from scipy import ndimage

    near = ndimage.binary_dilation(np.asarray(labels[sl]) == cleft_id, np.ones((1, 5, 5), bool))
    corner = np.array([s.start for s in sl], float)
    out = []
    for segment in (pre, post):
        where = np.argwhere(near & (seg == segment))
        out.append(where.mean(0) + corner if len(where) else None)
    return out


def export_neuroglancer(result_path, output, *, url_prefix: str = DEFAULT_URL_PREFIX) -> ExportResult:
    """Write the neuroglancer layers and state of an ``nwbsyn partners assign`` result (see the module docstring).

    Example
    -------
    >>> import os, tempfile
    >>> from nwbsyn.io.nwb import write_new_nwb
    >>> from nwbsyn.testing import mock_em_nwbfile, mock_SynapticPartnerTable
    >>> folder = tempfile.mkdtemp()
    >>> nwbfile = mock_em_nwbfile()
    >>> _ = mock_SynapticPartnerTable(nwbfile=nwbfile)   # 2 clefts, 3 partner edges
    >>> path = write_new_nwb(nwbfile, os.path.join(folder, "volume_nwbsyn.nwb"))
    >>> result = export_neuroglancer(path, os.path.join(folder, "volume_ng"))
    >>> result.layers, result.n_points, result.n_lines
    (('image', 'segmentation', 'clefts', 'cleft_points', 'partner_edges'), 2, 3)
    """
    from nwbsyn.io import open_nwb
    from nwbsyn.partners.nwb import result_tables

    output = Path(output)
    if output.exists() or output.is_symlink():
        raise InputError(f"{output} already exists; choose a new folder for the export (nothing is replaced).")
    if not output.parent.is_dir():
        raise InputError(f"the folder {output.parent} does not exist; create it or choose another -o.")
    _tensorstore()
    with open_nwb(result_path) as nwbfile:
        clefts, edges = result_tables(nwbfile, result_path)
        cleft_volume = clefts.cleft_volume
        image = cleft_volume.image_volume if cleft_volume is not None else None
        segmentation = edges.segmentation if edges is not None else None
        if cleft_volume is None or image is None:
            raise InputError(f"the cleft table of {result_path} links no cleft volume with its EM image; it cannot "
                             "be exported.")
        if segmentation is None:
            segmentation = next((o for o in nwbfile.objects.values() if type(o).__name__ == "EMLabelVolume"
                                 and getattr(o, "image_volume", None) is image and "cleft" not in o.name), None)
        vs = tuple(float(v) for v in image.voxel_size_nm)
        offset_nm = np.zeros(3) if image.offset_nm is None else np.asarray(image.offset_nm, float)
        offset_vox = tuple(int(round(o / v)) for o, v in zip(offset_nm, vs))
        shape = tuple(int(n) for n in image.data.shape)
        tmp = Path(tempfile.mkdtemp(prefix=f".{output.name}.", dir=output.parent))
        try:
            layers = ["image"]
            _write_volume(tmp / "image", image.data, kind="image", voxel_size_nm=vs, offset_vox=offset_vox)
            if segmentation is not None:
                _write_volume(tmp / "segmentation", segmentation.data, kind="segmentation", voxel_size_nm=vs,
                              offset_vox=offset_vox)
                layers.append("segmentation")
            _write_volume(tmp / "clefts", cleft_volume.data, kind="segmentation", voxel_size_nm=vs,
                          offset_vox=offset_vox)
            layers.append("clefts")
            n_points, n_lines = _write_result_annotations(tmp, clefts, edges, cleft_volume, segmentation, vs,
                                                          offset_vox, shape)
            layers += ["cleft_points", "partner_edges"]
            state = _state(layers, vs, shape, offset_vox, url_prefix.rstrip("/") + "/" + output.name)
            (tmp / "state.json").write_text(json.dumps(state, indent=1))
            os.chmod(tmp, 0o755)
            os.rename(tmp, output)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
    return ExportResult(folder=output, layers=tuple(layers), n_points=n_points, n_lines=n_lines,
                        state_path=output / "state.json")


def _column(table, name, default, n):
    return np.asarray(table[name].data[:]) if name in table.colnames else np.full(n, default)


def _write_result_annotations(folder, clefts, edges, cleft_volume, segmentation, vs, offset_vox, shape):
    n = len(clefts)
    ids = np.asarray(clefts["cleft_id"].data[:], np.uint64)
    centres = np.asarray(clefts["centroid"].data[:], float).reshape(-1, 3)
    boxes = np.asarray(clefts["bounding_box"].data[:], np.int64).reshape(-1, 6)
    score = _column(clefts, "score", 1.0, n).astype(float)
    conf = _column(clefts, "confidence", np.nan, n).astype(float)
    low = _column(clefts, "low_confidence", False, n).astype(bool)
    size = np.asarray(clefts["num_voxels"].data[:], np.int64)
    off = np.asarray(offset_vox, float)
    xyz = lambda zyx: (np.asarray(zyx, float) + off + 0.5)[::-1]  # noqa: E731 - voxel centre, x y z
    dims = {"x": [vs[2] * 1e-9, "m"], "y": [vs[1] * 1e-9, "m"], "z": [vs[0] * 1e-9, "m"]}
    lower, upper = off[::-1], (off + shape)[::-1]
    if ids.size and int(ids.max()) >= 2**32:
        raise InputError("a cleft id is 2**32 or more; neuroglancer annotation properties hold 32-bit ids.")
    point_props = [{"id": "score", "type": "float32", "description": "mean cleft probability"},
                   {"id": "confidence", "type": "float32", "description": "calibrated probability that it is real"},
                   {"id": "num_voxels", "type": "uint32", "description": "cleft size in voxels"},
                   {"id": "cleft_id", "type": "uint32", "description": "label in the cleft volume"},
                   {"id": "low_confidence", "type": "uint8", "description": "1 when confidence is low"}]
    values = [dict(score=score[i], confidence=conf[i], num_voxels=int(size[i]), cleft_id=int(ids[i]),
                   low_confidence=int(low[i])) for i in range(n)]
    _write_annotations(folder / "cleft_points", kind="POINT", ids=ids.tolist(), geometries=[xyz(c) for c in centres],
                       values=values, properties=point_props, relationships={}, dimensions=dims, lower=lower,
                       upper=upper)
    line_props = [{"id": "presynaptic_score", "type": "float32"}, {"id": "postsynaptic_score", "type": "float32"},
                  {"id": "confidence", "type": "float32", "description": "calibrated probability that it is right"},
                  {"id": "cleft_id", "type": "uint32"}, {"id": "low_confidence", "type": "uint8"}]
    geoms, vals, pres, posts = [], [], [], []
    m = len(edges) if edges is not None else 0
    if m:
        rows = np.asarray(edges["cleft"].data[:], np.intp)
        pre = np.asarray(edges["presynaptic_id"].data[:], np.uint64)
        post = np.asarray(edges["postsynaptic_id"].data[:], np.uint64)
        s_pre = _column(edges, "presynaptic_score", np.nan, m).astype(float)
        s_post = _column(edges, "postsynaptic_score", np.nan, m).astype(float)
        e_conf = _column(edges, "confidence", np.nan, m).astype(float)
        e_low = _column(edges, "low_confidence", False, m).astype(bool)
        for k in range(m):
            r = rows[k]
            a = b = None
            if segmentation is not None:
                a, b = _sides(segmentation.data, cleft_volume.data, boxes[r], int(ids[r]), int(pre[k]), int(post[k]),
                              shape)
            a = centres[r] if a is None else a
            b = centres[r] if b is None else b
            geoms.append((*xyz(a), *xyz(b)))
            vals.append(dict(presynaptic_score=s_pre[k], postsynaptic_score=s_post[k], confidence=e_conf[k],
                             cleft_id=int(ids[r]), low_confidence=int(e_low[k])))
            pres.append([int(pre[k])])
            posts.append([int(post[k])])
    _write_annotations(folder / "partner_edges", kind="LINE", ids=list(range(1, m + 1)), geometries=geoms, values=vals,
                       properties=line_props, relationships={"presynaptic": pres, "postsynaptic": posts},
                       dimensions=dims, lower=lower, upper=upper)
    return n, m


_SHADER = """void main() {
  setColor(prop_low_confidence() == uint(1) ? vec3(1.0, 0.2, 0.2) : vec3(0.2, 1.0, 0.2));
}
"""


def _state(layers, vs, shape, offset_vox, base: str) -> dict:
    """A neuroglancer viewer state with every layer, centred on the volume."""
    centre = (np.asarray(offset_vox, float) + np.asarray(shape) / 2)[::-1]
    out = []
    for name in layers:
        src = f"precomputed://{base}/{name}"
        if name == "image":
            out.append({"type": "image", "source": src, "name": "EM"})
        elif name in ("segmentation", "clefts"):
            out.append({"type": "segmentation", "source": src, "name": name,
                        **({"objectAlpha": 0.6} if name == "clefts" else {"selectedAlpha": 0.3})})
        else:
            out.append({"type": "annotation", "source": src, "name": name, "shader": _SHADER})
    return {"dimensions": {"x": [vs[2] * 1e-9, "m"], "y": [vs[1] * 1e-9, "m"], "z": [vs[0] * 1e-9, "m"]},
            "position": centre.tolist(), "crossSectionScale": 1.0, "layers": out, "layout": "4panel",
            "selectedLayer": {"layer": "partner_edges", "visible": True}}
