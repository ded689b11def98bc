"""Add nwbsyn event detection to an NWB file you already have, then read the new file back.

    python examples/enrich_nwb_file.py session.nwb                  # -> session_nwbsyn.nwb
    python examples/enrich_nwb_file.py session.nwb -o out.nwb --series sweep_003 sweep_004
    python examples/enrich_nwb_file.py                              # a small simulated session

Your file is never modified: the results go to a new, complete NWB file that plain pynwb
can read (the ndx-nwbsyn schema is cached in it).
"""

import argparse
from pathlib import Path

from pynwb import NWBHDF5IO

from nwbsyn import events, io
from nwbsyn.io.nwb import write_new_nwb
from nwbsyn.testing import mock_icephys_nwbfile


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("input", nargs="?", help="NWB file with patch-clamp sweeps (default: a simulated one)")
    parser.add_argument("-o", "--output", help="where to write (default: <input>_nwbsyn.nwb)")
    parser.add_argument("--series", nargs="+", help="sweeps to analyse (default: all patch-clamp series)")
    args = parser.parse_args()

    source = Path(args.input) if args.input else write_new_nwb(
        mock_icephys_nwbfile(n_sweeps=3, duration_s=2.0), "my_session.nwb", overwrite=True)
    output = Path(args.output) if args.output else io.default_output_path(source)
    with io.edit_nwb(source, output=output, overwrite=True) as nwbfile:  # read, add, write a new file
        events.run_on_nwbfile(nwbfile, series=args.series, overwrite=True, progress_bar=False)

    # read it back with plain pynwb: `import nwbsyn` is not even needed, the schema is in the file
    with NWBHDF5IO(str(output), "r", load_namespaces=True) as nwb_io:
        nwbfile = nwb_io.read()
        module = nwbfile.processing["icephys"]
        print(f"{output}: processing/icephys holds {', '.join(sorted(module.data_interfaces))}")
        if "synaptic_events" in module.data_interfaces:
            table = module["synaptic_events"].to_dataframe(index=True)
            columns = ["timestamp", "amplitude", "rise_time", "half_decay_time", "score"]
            print(table[columns].head(8).to_string(float_format=lambda v: f"{v:.4g}"))
            print(f"{len(table)} events; amplitude unit: {module['synaptic_events']['amplitude'].unit}")
        model = module["synaptic_events_model"]
        print(f"model: {model.model_name} (sha256 {model.weights_sha256[:12]}…, nwbsyn {model.nwbsyn_version})")
    print(f"results: {output}")


if __name__ == "__main__":
    main()
