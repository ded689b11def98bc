"""Object mappers: read files written with schema 0.1 into the 0.2 classes.

Schema 0.1 kept lengths in nanometres in attributes named ``voxel_size_nm`` / ``offset_nm``,
the bin size in ``bin_size_s``, the model card in an attribute and cleft centroids in nm
(while bounding boxes were in voxels). Reading such a file gives the same objects as a 0.2
file: SI values, the card as text, centroids in voxels; writing them (``NWBHDF5IO.export``)
upgrades the file to 0.2.
"""

from __future__ import annotations

import warnings

import numpy as np
from hdmf.build import DatasetBuilder, LinkBuilder
from hdmf.common.io.table import DynamicTableMap
from pynwb import register_map
from pynwb.io.core import NWBContainerMapper

from ndx_nwbsyn.types import METERS_PER, EMImageVolume, EMLabelVolume, FunctionalConnectivity, ModelProvenance, \
    SynapticCleftTable

__all__ = ["EMVolumeMap", "FunctionalConnectivityMap", "ModelProvenanceMap", "SynapticCleftTableMap"]


def _old_nm(builder, name: str):
    value = builder.attributes.get(f"{name}_nm")
    return None if value is None else (np.asarray(value, float) * 1e-9).tolist()


class EMVolumeMap(NWBContainerMapper):
    """``voxel_size`` / ``offset`` in meters, from 0.2 files or from 0.1's ``*_nm`` attributes."""

    @NWBContainerMapper.constructor_arg("voxel_size")
    def voxel_size_carg(self, builder, manager):
        value = builder.attributes.get("voxel_size")
        return value if value is not None else _old_nm(builder, "voxel_size")

    @NWBContainerMapper.constructor_arg("offset")
    def offset_carg(self, builder, manager):
        value = builder.attributes.get("offset")
        return value if value is not None else _old_nm(builder, "offset")


register_map(EMImageVolume)(EMVolumeMap)
register_map(EMLabelVolume, type("EMLabelVolumeMap", (EMVolumeMap,), {}))


@register_map(FunctionalConnectivity)
class FunctionalConnectivityMap(NWBContainerMapper):
    """``bin_size`` in seconds (0.1: ``bin_size_s``)."""

    @NWBContainerMapper.constructor_arg("bin_size")
    def bin_size_carg(self, builder, manager):
        value = builder.attributes.get("bin_size")
        return value if value is not None else builder.attributes.get("bin_size_s")


@register_map(ModelProvenance)
class ModelProvenanceMap(NWBContainerMapper):
    """The model card from its dataset (0.2) or from the attribute of 0.1."""

    @NWBContainerMapper.constructor_arg("model_card")
    def model_card_carg(self, builder, manager):
        found = builder.datasets.get("model_card")
        value = found.data if found is not None else builder.attributes.get("model_card")
        if hasattr(value, "shape") and not value.shape:  # a scalar h5py dataset
            value = value[()]
        return value.decode("utf-8") if isinstance(value, bytes) else value


@register_map(SynapticCleftTable)
class SynapticCleftTableMap(DynamicTableMap):
    """0.1 centroids (nm, a QuantityVectorData) become voxel coordinates of the cleft volume, as in 0.2."""

    def construct(self, builder, manager, parent=None):
        _centroid_to_voxels(builder)
        return super().construct(builder, manager, parent)


def _centroid_to_voxels(builder) -> None:
    centroid = builder.datasets.get("centroid")
    unit = None if centroid is None else centroid.attributes.get("unit")
    if isinstance(unit, bytes):
        unit = unit.decode()
    if unit is None or unit not in METERS_PER:
        return  # schema 0.2 (voxels), or a unit this reader does not know
    volume = builder.links.get("cleft_volume")
    target = volume.builder if isinstance(volume, LinkBuilder) else None
    size = None if target is None else (target.attributes.get("voxel_size_nm"), target.attributes.get("voxel_size"))
    if size is None or all(v is None for v in size):
        warnings.warn(f"{builder.path}: centroids are in {unit} and no cleft volume gives the voxel size; they are "
                      "left as they are (schema 0.1).", stacklevel=2)
        return
    nm, m = size
    voxel_m = np.asarray(m if m is not None else np.asarray(nm, float) * 1e-9, float)
    offset_nm, offset_m = target.attributes.get("offset_nm"), target.attributes.get("offset")
    offset = np.asarray(offset_m if offset_m is not None else
                        (np.zeros(3) if offset_nm is None else np.asarray(offset_nm, float) * 1e-9), float)
    values = (np.asarray(centroid.data[:], float) * METERS_PER[unit] - offset) / voxel_m
    builder.set_dataset(DatasetBuilder(
        name="centroid", data=values, dtype="float64", parent=builder,
        attributes={"neurodata_type": "VectorData", "namespace": "hdmf-common",
                    "object_id": centroid.attributes.get("object_id"),
                    "description": "Centroid (z, y, x) of the cleft, in voxels (converted from schema 0.1)."}))
