"""Write the ndx-nwbsyn namespace and extension YAML into this folder.

This script is the single source of truth for the schema and for the version of the
``ndx-nwbsyn`` distribution (``spec/pyproject.toml`` reads ``version`` from the namespace
YAML it writes): edit it, run ``python spec/create_extension_spec.py`` and commit both YAML
files. ``spec/tests/test_ndx_spec.py`` regenerates them and fails on any difference.

Conventions (schema 0.2): values are in SI base units; a dataset or column of physical values
carries a ``unit`` attribute and no unit in its name; times are in seconds (as in core);
every table uses one coordinate frame.
"""

from pathlib import Path

from pynwb.spec import (
    NWBAttributeSpec,
    NWBDatasetSpec,
    NWBGroupSpec,
    NWBLinkSpec,
    NWBNamespaceBuilder,
    export_spec,
)

NAMESPACE = "ndx-nwbsyn"
VERSION = "0.2.0"


def _column(name, doc, *, dtype="float", inc="VectorData", shape=(None,), dims=("num_rows",), required=True):
    return NWBDatasetSpec(
        name=name, neurodata_type_inc=inc, doc=doc, dtype=dtype, shape=list(shape), dims=list(dims),
        quantity=1 if required else "?",
    )


def _model_link():
    return NWBLinkSpec(
        name="model", target_type="ModelProvenance", quantity="?",
        doc="The model (and its parameters) that produced this result.",
    )


def event_types():
    quantity = NWBDatasetSpec(
        neurodata_type_def="QuantityVectorData",
        neurodata_type_inc="VectorData",
        doc="A VectorData column of physical quantities, with the unit of its values.",
        attributes=[NWBAttributeSpec(name="unit", dtype="text", doc="SI unit of the values, e.g. 'amperes'.")],
    )
    events = NWBGroupSpec(
        neurodata_type_def="SynapticEventsTable",
        neurodata_type_inc="EventsTable",
        doc=(
            "Spontaneous synaptic events detected in one or more traces, one event per row. "
            "'timestamp' is the event onset (the steepest rise) in seconds on the session clock."
        ),
        datasets=[
            NWBDatasetSpec(
                name="timestamp", neurodata_type_inc="TimestampVectorData", dims=["num_rows"], shape=[None],
                doc="Event onset (steepest rise) in seconds on the session clock.",
                attributes=[NWBAttributeSpec(
                    name="resolution", dtype="float", required=False,
                    doc="Temporal resolution of the onsets in seconds: the sampling period (1 / rate) of the "
                        "analysed trace. Writers should always set it.")],
            ),
            _column("amplitude", "Peak minus baseline (signed as in the data).", inc="QuantityVectorData"),
            _column("baseline", "Value of the trace just before the event onset.", inc="QuantityVectorData"),
            _column("rise_time", "10-90 % rise time, in seconds (NaN when not measurable).",
                    inc="DurationVectorData"),
            _column("half_decay_time", "Time from the peak to 50 % decay, in seconds (NaN when not measurable).",
                    inc="DurationVectorData"),
            _column("half_width", "Width of the event at half amplitude, in seconds.", inc="DurationVectorData",
                    required=False),
            _column("charge", "Integral of the baseline-subtracted event (e.g. coulombs for currents).",
                    inc="QuantityVectorData", required=False),
            _column("score", "Detector score of the event, in [0, 1] (1 = certain event)."),
            NWBDatasetSpec(
                name="trace", neurodata_type_inc="TimeSeriesReferenceVectorData",
                doc="The analysed trace: idx_start = onset sample of the event, count = samples of the event window.",
            ),
            NWBDatasetSpec(
                name="recording", neurodata_type_inc="DynamicTableRegion", dims=["num_rows"], shape=[None],
                doc="Row of the IntracellularRecordingsTable (sweep) each event belongs to.", quantity="?",
            ),
        ],
        attributes=[
            NWBAttributeSpec(name="polarity", dtype="text", required=False,
                             doc="'negative' (inward currents, hyperpolarising) or 'positive' events."),
        ],
        links=[_model_link()],
    )
    score = NWBGroupSpec(
        neurodata_type_def="SynapticEventScoreSeries",
        neurodata_type_inc="TimeSeries",
        doc="Detector score over time (probability that an event starts in the window), values in [0, 1].",
        datasets=[
            NWBDatasetSpec(
                name="data", dtype="float32", dims=["num_times"], shape=[None], doc="Scores in [0, 1].",
                attributes=[NWBAttributeSpec(name="unit", dtype="text", value="n.a.", doc="Scores have no unit.")],
            )
        ],
        attributes=[
            NWBAttributeSpec(name="threshold", dtype="float", required=False,
                             doc="Score above which a window was taken to contain an event."),
        ],
        links=[
            NWBLinkSpec(name="source_series", target_type="TimeSeries", quantity="?",
                        doc="The analysed trace."),
        ],
    )
    return [quantity], [events, score]


def provenance_types():
    provenance = NWBGroupSpec(
        neurodata_type_def="ModelProvenance",
        neurodata_type_inc="NWBDataInterface",
        doc=(
            "The model that produced a result: identity, parameters, training recipe, its model card and a "
            "reference to its weights (sha256 + origin); the weights bytes themselves only when asked for."
        ),
        attributes=[
            NWBAttributeSpec(name="model_name", dtype="text", doc="Name of the model, e.g. 'nwbsyn-events-default'."),
            NWBAttributeSpec(name="architecture", dtype="text", doc="Network architecture in words."),
            NWBAttributeSpec(name="method", dtype="text", doc="Method and its reference, e.g. 'miniML (O'Neill 2025)'."),
            NWBAttributeSpec(name="nwbsyn_version", dtype="text", doc="Version of the software that wrote the result."),
            NWBAttributeSpec(name="weights_sha256", dtype="text", doc="sha256 of the weights file (hex)."),
            NWBAttributeSpec(name="weights_origin", dtype="text", required=False,
                             doc="Where the weights file came from: a package resource ('nwbsyn 0.2.0: "
                                 "nwbsyn/events/models/x.pt'), a URL or a path; with weights_sha256 it identifies "
                                 "the weights when they are not embedded."),
            NWBAttributeSpec(name="parameters", dtype="text", doc="All run parameters as JSON."),
            NWBAttributeSpec(name="training_recipe", dtype="text", required=False,
                             doc="How the weights were trained: data recipe, seed, command."),
            NWBAttributeSpec(name="weights_format", dtype="text", required=False,
                             doc="Format of the 'weights' bytes, e.g. 'torch-state-dict'."),
        ],
        datasets=[
            NWBDatasetSpec(
                name="model_card", dtype="text", quantity="?",
                doc="Model card as JSON, a scalar text dataset (an attribute would be capped at 64 KiB by HDF5).",
            ),
            NWBDatasetSpec(
                name="weights", dtype="uint8", dims=["num_bytes"], shape=[None], quantity="?",
                doc="The bytes of the weights file (only when embedding was asked for), so that the file alone can "
                    "reproduce the result.",
            ),
        ],
    )
    return [provenance]


def _volume_attributes():
    return [
        NWBAttributeSpec(name="description", dtype="text", doc="What the volume shows."),
        NWBAttributeSpec(name="voxel_size", dtype="float", dims=["zyx"], shape=[3],
                         doc="Voxel size along (z, y, x), in 'unit' (meters)."),
        NWBAttributeSpec(name="offset", dtype="float", dims=["zyx"], shape=[3], required=False,
                         doc="Position of the centre of voxel (0, 0, 0) along (z, y, x), in 'unit' (meters)."),
        NWBAttributeSpec(name="unit", dtype="text", default_value="meters", required=False,
                         doc="Unit of voxel_size and offset; 'meters' (SI)."),
    ]


def em_types():
    image = NWBGroupSpec(
        neurodata_type_def="EMImageVolume",
        neurodata_type_inc="NWBDataInterface",
        doc="A 3D electron-microscopy image volume, axes (z, y, x).",
        attributes=_volume_attributes(),
        datasets=[NWBDatasetSpec(name="data", dtype="numeric", dims=["z", "y", "x"], shape=[None, None, None],
                                 doc="Grey values, axes (z, y, x).")],
    )
    labels = NWBGroupSpec(
        neurodata_type_def="EMLabelVolume",
        neurodata_type_inc="NWBDataInterface",
        doc="A 3D label volume (segmentation or cleft labels) aligned to an EM image volume, axes (z, y, x).",
        attributes=_volume_attributes(),
        datasets=[NWBDatasetSpec(name="data", dtype="uint8", dims=["z", "y", "x"], shape=[None, None, None],
                                 doc="Label id per voxel; 0 = background. Any unsigned integer type (uint8 to "
                                     "uint64): the smallest one that holds the largest id.")],
        links=[NWBLinkSpec(name="image_volume", target_type="EMImageVolume", quantity="?",
                           doc="The image volume these labels belong to.")],
    )
    clefts = NWBGroupSpec(
        neurodata_type_def="SynapticCleftTable",
        neurodata_type_inc="DynamicTable",
        doc=(
            "Synaptic clefts found in an EM volume, one cleft per row. Every position is in voxel coordinates "
            "(z, y, x) of 'cleft_volume' (voxel centres at integers); its voxel_size and offset give positions "
            "in meters."
        ),
        datasets=[
            _column("cleft_id", "Label of the cleft in the cleft label volume.", dtype="uint64"),
            _column("centroid", "Centroid (z, y, x) of the cleft, in voxels.", shape=(None, 3),
                    dims=("num_rows", "zyx")),
            _column("num_voxels", "Size of the cleft in voxels.", dtype="int64"),
            _column("bounding_box", "Voxel bounding box (z0, y0, x0, z1, y1, x1), half-open.",
                    dtype="int64", shape=(None, 6), dims=("num_rows", "bounds")),
            _column("score", "Mean cleft probability over the cleft (1 for given clefts).", required=False),
        ],
        links=[
            NWBLinkSpec(name="cleft_volume", target_type="EMLabelVolume", quantity="?",
                        doc="Label volume holding the cleft ids."),
            _model_link(),
        ],
    )
    partners = NWBGroupSpec(
        neurodata_type_def="SynapticPartnerTable",
        neurodata_type_inc="DynamicTable",
        doc=(
            "Synaptic partners, one (presynaptic, postsynaptic) edge per row; a polyadic synapse has "
            "several rows for its cleft."
        ),
        datasets=[
            NWBDatasetSpec(name="cleft", neurodata_type_inc="DynamicTableRegion", dims=["num_rows"], shape=[None],
                           doc="The cleft (row of a SynapticCleftTable) of this edge."),
            _column("presynaptic_id", "Segment id of the presynaptic neurite.", dtype="uint64"),
            _column("postsynaptic_id", "Segment id of the postsynaptic neurite.", dtype="uint64"),
            _column("presynaptic_score", "Network score of the presynaptic segment, in [0, 1].", required=False),
            _column("postsynaptic_score", "Network score of the postsynaptic segment, in [0, 1].", required=False),
        ],
        links=[
            NWBLinkSpec(name="segmentation", target_type="EMLabelVolume", quantity="?",
                        doc="Segmentation whose ids the table uses."),
            _model_link(),
        ],
    )
    return [image, labels, clefts, partners]


def connectivity_types():
    connectivity = NWBGroupSpec(
        neurodata_type_def="FunctionalConnectivity",
        neurodata_type_inc="NWBDataInterface",
        doc=(
            "A directed functional connectivity matrix learned from population activity. "
            "weights[j, i] is the influence of neuron presynaptic[j] on neuron postsynaptic[i]; "
            "positive = excitatory, negative = inhibitory."
        ),
        attributes=[
            NWBAttributeSpec(name="description", dtype="text", doc="How the matrix was obtained."),
            NWBAttributeSpec(name="method", dtype="text", doc="Method, e.g. 'SynapsNet' or 'ridge VAR'."),
            NWBAttributeSpec(name="metrics", dtype="text", required=False,
                             doc="Fit metrics as JSON, e.g. forecast correlation on held-out data."),
            NWBAttributeSpec(name="bin_size", dtype="float", required=False,
                             doc="Time step of the activity the model was fitted on, in seconds."),
        ],
        datasets=[
            NWBDatasetSpec(name="weights", dtype="float", dims=["num_presynaptic", "num_postsynaptic"],
                           shape=[None, None], doc="Directed weights, rows = presynaptic, columns = postsynaptic."),
            NWBDatasetSpec(name="presynaptic", neurodata_type_inc="DynamicTableRegion", dims=["num_presynaptic"],
                           shape=[None], doc="The presynaptic neurons (rows of Units or PlaneSegmentation)."),
            NWBDatasetSpec(name="postsynaptic", neurodata_type_inc="DynamicTableRegion",
                           dims=["num_postsynaptic"], shape=[None],
                           doc="The postsynaptic neurons (rows of Units or PlaneSegmentation)."),
            NWBDatasetSpec(name="embeddings", dtype="float", dims=["num_presynaptic", "embedding_dim"],
                           shape=[None, None], quantity="?",
                           doc="Learned embedding of each neuron, rows aligned with 'presynaptic'."),
        ],
        links=[
            NWBLinkSpec(name="source_series", target_type="TimeSeries", quantity="?",
                        doc="The activity the model was fitted on (e.g. RoiResponseSeries or binned spike counts)."),
            _model_link(),
        ],
    )
    return [connectivity]


def main(output_dir: Path = Path(__file__).parent) -> None:
    ns_builder = NWBNamespaceBuilder(
        name=NAMESPACE,
        version=VERSION,
        doc="Synaptic physiology in NWB: synaptic events, EM synaptic partners and functional connectivity.",
        author=["nwbsyn developers"],
        contact=["nwbsyn@users.noreply.github.com"],
    )
    for neurodata_type in ("NWBDataInterface", "TimeSeries", "EventsTable", "TimestampVectorData",
                           "DurationVectorData", "TimeSeriesReferenceVectorData"):
        ns_builder.include_type(neurodata_type, namespace="core")
    for neurodata_type in ("DynamicTable", "VectorData", "DynamicTableRegion"):
        ns_builder.include_type(neurodata_type, namespace="hdmf-common")

    datasets, event_groups = event_types()
    new_data_types = datasets + event_groups + provenance_types() + em_types() + connectivity_types()
    export_spec(ns_builder, new_data_types, str(output_dir))


if __name__ == "__main__":
    main()
