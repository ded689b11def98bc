"""``nwbsyn events detect|train|transfer`` and ``nwbsyn convert abf``."""

from __future__ import annotations

import argparse
from contextlib import contextmanager
from pathlib import Path

from nwbsyn.cli import core

_EVOKED_DEFAULT_MS = 150  # nwbsyn.events.exclude.DEFAULT_EVOKED_WINDOW_MS (not imported: the CLI starts fast)

_DETECT_EPILOG = """\
examples:
  nwbsyn events detect cell1.nwb                      all patch-clamp sweeps -> cell1_nwbsyn.nwb
  nwbsyn events detect cell1.nwb --series sweep_000 -o out.nwb --plot events.png
  nwbsyn events detect cell1.nwb --in-place --overwrite --threshold 0.6
  nwbsyn events detect cell1.nwb --model my_model.pt  a model from 'nwbsyn events train/transfer'
  nwbsyn events detect cell1.nwb --model GC_lstm_model.h5   a miniML Keras model
  nwbsyn events detect nmj.nwb --series 'I2_*'        the sweeps of one ABF channel (glob pattern)
  nwbsyn events detect ejc.nwb --evoked-window 200    no events within 200 ms of each stimulus
  nwbsyn events detect cell1.nwb --exclude 0:0.15,1.6:2.1   windows in s from each sweep start

Left out of the event table and of the analysed time (frequency = events / analysed s): steps
of the command waveform (1 ms before to 10 ms after; --keep-transients keeps them); 1 ms before
to --evoked-window ms after each stimulus onset (and offset) in a TimeIntervals table in
intervals/ whose name contains 'stim' ('nwbsyn convert abf' writes intervals/stimuli from the
ABF protocol: digital outputs, trigger DACs, trigger channels); rows of invalid_times and of
tables named *artifact*/*artefact*/*exclu*; --exclude and --exclude-session windows; in voltage
traces, action potentials (dV/dt > 20 V/s rising 20 mV within 2 ms, from 2 ms before the
threshold until repolarised; --keep-action-potentials keeps them).

Results go to processing['icephys']: 'synaptic_events' (SynapticEventsTable: onset time on the
session clock, amplitude, baseline, 10-90 % rise, half decay, half width, charge, score, trace
reference), '<series>_event_scores' (score traces), 'synaptic_events_model' (ModelProvenance)
and 'synaptic_events_excluded' (TimeIntervals: every excluded window with its series and reason).
"""


def add_parsers(subparsers) -> None:
    events = subparsers.add_parser("events", help="detect spontaneous synaptic events (miniML method)",
                                   description="Spontaneous synaptic event detection with a CNN + BiLSTM "
                                               "window classifier (the miniML method) in PyTorch.")
    sub = events.add_subparsers(dest="events_command", metavar="COMMAND", required=True)
    detect = sub.add_parser("detect", help="detect events in the traces of an NWB file",
                            description="Detect spontaneous synaptic events in patch-clamp traces of an NWB "
                                        "file and write them back as NWB.",
                            epilog=_DETECT_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    detect.add_argument("input", metavar="IN.nwb", help="NWB file with patch-clamp series (see 'nwbsyn info')")
    detect.add_argument("--series", nargs="+", metavar="NAME",
                        help="series to analyse, by name, path or glob pattern such as 'I2_*' (quote it; default: "
                             "every patch-clamp series)")
    core.add_output_arguments(detect)
    detect.add_argument("--model", default="default",
                        help="'default' (shipped model), a checkpoint (.pt) or a miniML Keras model (.h5)")
    detect.add_argument("--threshold", type=float, default=0.5, help="minimum event score in [0, 1] (default 0.5)")
    detect.add_argument("--polarity", choices=["negative", "positive", "both", "auto"], default="auto",
                        help="event direction; auto: negative in voltage clamp, positive in current clamp; both: "
                             "inward and outward events in one pass, each with its sign")
    detect.add_argument("--mode", choices=["fast", "full"], default="fast",
                        help="fast: score only windows around candidate events (default); full: every window")
    detect.add_argument("--stride", type=int, default=20, metavar="SAMPLES",
                        help="window step at the model's 50 kHz (default 20; smaller = slower, finer)")
    core.add_device_argument(detect)
    detect.add_argument("--keep-transients", action="store_true",
                        help="keep events within 1 ms before / 10 ms after steps of the command waveform "
                             "(capacitive transients; dropped by default)")
    detect.add_argument("--exclude", metavar="START:END[,START:END...]",
                        help="windows without events, in seconds from each sweep start, e.g. 0:0.15,1.6:2.1")
    detect.add_argument("--exclude-session", metavar="START:END[,START:END...]",
                        help="windows without events, in seconds on the session clock (the times of the event table)")
    detect.add_argument("--evoked-window", type=float, metavar="MS",
                        help=f"drop events from 1 ms before to MS after each stimulus of the file's stimulus table "
                             f"(default {_EVOKED_DEFAULT_MS} when the file has stimuli; 0 keeps evoked events)")
    detect.add_argument("--keep-action-potentials", action="store_true",
                        help="in current clamp, keep events on action potentials (dropped by default)")
    core.add_weights_argument(detect, help="do not store the model weights in the output file")
    core.add_plot_argument(detect, help="also draw the trace with detections and the average event")
    core.add_quiet_argument(detect)
    detect.set_defaults(handler=_cmd_detect)

    train = sub.add_parser(
        "train", help="train a classifier from labelled windows or simulated data",
        description="Train the CNN + BiLSTM classifier from scratch on labelled windows (miniML's HDF5 format: "
                    "'events' (n, L) and 'scores' 0/1) or on simulated windows. Writes MODEL.pt and "
                    "MODEL.card.json (data recipe, seed, metrics, sha256).",
        epilog="examples:\n  nwbsyn events train --recipe default -o nwbsyn_events_default.pt   (the shipped model)\n"
               "  nwbsyn events train --data scored_windows.h5 -o my_model.pt --seed 1",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    source = train.add_mutually_exclusive_group(required=True)
    source.add_argument("--data", nargs="+", metavar="FILE.h5", help="labelled windows (miniML training format)")
    source.add_argument("--recipe", choices=["default", "simulated"],
                        help="the data recipe of the shipped model: 'default' (simulated windows + windows cut from "
                             "the noise of the real recordings in ../shared when present), or 'simulated' (its first "
                             "training stage)")
    source.add_argument("--simulate", type=int, metavar="N", help="N simulated windows (GC-like kinetics)")
    train.add_argument("--init", dest="base", metavar="MODEL",
                       help="start from this model's weights ('default', a checkpoint or a miniML .h5) and train "
                            "every layer (continued training; the card records the starting model's sha256)")
    _training_arguments(train)
    train.set_defaults(handler=_cmd_train, freeze_conv=False, base=None)

    transfer = sub.add_parser(
        "transfer", help="adapt a trained model to new data (transfer learning)",
        description="Transfer learning: keep the convolution blocks of a trained model fixed and retrain the "
                    "BiLSTM and dense layers (dropout 0.5) on a few hundred labelled windows of your cells.",
        epilog="example: nwbsyn events transfer --data my_windows.h5 --base default -o my_cells.pt")
    transfer.add_argument("--data", nargs="+", required=True, metavar="FILE.h5", help="labelled windows")
    transfer.add_argument("--base", default="default",
                          help="model to start from: 'default', a checkpoint (.pt) or a miniML Keras model (.h5)")
    _training_arguments(transfer)
    transfer.set_defaults(handler=_cmd_train, freeze_conv=True, recipe=None, simulate=None)
    _add_review_parser(sub)

    convert = subparsers.add_parser("convert", help="convert recordings to NWB (ABF)",
                                    description="Convert recordings from other formats to NWB.")
    csub = convert.add_subparsers(dest="convert_command", metavar="FORMAT", required=True)
    abf = csub.add_parser("abf", help="Axon ABF recording -> icephys NWB",
                          description="Convert an Axon ABF (1 or 2) recording into an icephys NWB file: one "
                                      "Voltage/CurrentClampSeries per sweep with its command waveform, in the "
                                      "IntracellularRecordingsTable.",
                          epilog="example: nwbsyn convert abf cell1.abf -o cell1.nwb --subject-id m1 "
                                 "--species 'Mus musculus' --sex F --age P30D")
    abf.add_argument("input", metavar="IN.abf")
    core.add_output_arguments(abf, in_place=False, help="NWB file to write", default="IN.nwb beside the input",
                         overwrite="replace an existing output file")
    abf.add_argument("--clamp-mode", choices=["voltage", "current"],
                     help="override the mode read from the command's unit (mV: voltage clamp, pA: current clamp)")
    abf.add_argument("--channel", nargs="+", metavar="NAME|INDEX",
                     help="ADC channel(s) to analyse, by name or index (default: the currents in voltage clamp and "
                          "two-electrode clamp, the voltages in current clamp); the others are kept as plain series")
    core.add_subject_arguments(abf)
    abf.set_defaults(handler=_cmd_convert_abf)


_REVIEW_EPILOG = """\
examples:
  nwbsyn events review cell1_nwbsyn.nwb --in-place      curate, then save into the file itself
  nwbsyn events review cell1_nwbsyn.nwb -o curated.nwb --port 8800
  nwbsyn events transfer --data curated_review_windows.h5 --base default -o my_cells.pt

The page is served on 127.0.0.1 only (another free port when --port is taken). Keys: n/p or
arrows step through the events, a accept, r reject, u clear, +/- zoom, [ ] pan, s save; a click
on the trace adds a missed event. Save writes the curated table (rejected events dropped, added
ones measured, a 'review' column) with processing/icephys/synaptic_events_review (what changed,
when, nwbsyn version) and the labelled windows (accepted/added 1, rejected 0) for 'events transfer'.
"""


def _add_review_parser(sub) -> None:
    review = sub.add_parser("review", help="curate detected events in the browser (accept, reject, add)",
                            description="Review the events of an NWB file in a local browser page: accept or "
                                        "reject each, add missed ones, save the curated table and training windows.",
                            epilog=_REVIEW_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    review.add_argument("input", metavar="IN.nwb", help="NWB file with events from 'nwbsyn events detect'")
    core.add_output_arguments(review)
    review.add_argument("--windows", metavar="OUT.h5",
                        help="labelled windows for 'nwbsyn events transfer --data' (default: "
                             "<output>_review_windows.h5 beside the output)")
    review.add_argument("--port", type=int, default=8765, help="port on 127.0.0.1 (default 8765; 0: any free port)")
    review.add_argument("--open", action="store_true", help="open the page in the default web browser")
    review.set_defaults(handler=_cmd_review)


def _cmd_review(args: argparse.Namespace) -> int:
    from nwbsyn._shared import InputError
    from nwbsyn.events.review import open_review, serve_review

    if not 0 <= args.port <= 65535:
        raise InputError(f"--port must be from 0 to 65535 (0: any free port); got {args.port}.")
    session = open_review(args.input, output=args.output, in_place=args.in_place, overwrite=args.overwrite,
                          windows=args.windows)
    server = serve_review(session, port=args.port, announce=print)
    url = f"http://127.0.0.1:{server.server_port}/"
    print(f"reviewing {len(session.events)} events of {args.input} at {url} (saves go to {session.output}; "
          "'save and quit' on the page or Ctrl-C stops)", flush=True)
    if args.open:
        import webbrowser

        webbrowser.open(url)
    try:
        server.shutdown_event.wait()
    except KeyboardInterrupt:
        print("stopped; labels not saved are lost")
    finally:
        server.server_close()
    return 0


def _training_arguments(parser: argparse.ArgumentParser) -> None:
    core.add_output_arguments(parser, metavar="MODEL.pt", in_place=False, required=True,
                         help="checkpoint to write (.pt; its card goes to MODEL.card.json beside it)",
                         overwrite="replace an existing checkpoint and card")
    parser.add_argument("--seed", type=int, default=0, help="seed of data split, initialisation and order")
    parser.add_argument("--max-epochs", "--epochs", dest="epochs", type=int, default=100,
                        help="maximum epochs (early stopping, patience 8)")
    parser.add_argument("--learning-rate", type=float, default=1e-3, help="Adam (AMSGrad) step size")
    parser.add_argument("--unclear", choices=["raise", "drop"], default="raise",
                        help="what to do with windows scored 2 ('unclear') in miniML files")
    parser.add_argument("--polarity", choices=["negative", "positive"], default="negative",
                        help="direction of the events in the --data windows (positive ones are inverted)")
    core.add_device_argument(parser)
    core.add_quiet_argument(parser)


def _positive_int(value, option: str, *, high: int | None = None) -> None:
    from nwbsyn._shared import InputError

    if value < 1 or (high is not None and value > high):
        limit = f" and at most {high:,}" if high is not None else ""
        raise InputError(f"{option} must be at least 1{limit}; got {value}.")


def _check_train_options(args: argparse.Namespace) -> str:
    """Check the training options before any data is read; returns the torch device."""
    import math

    from nwbsyn._shared import InputError, pick_device

    if not 0 <= args.seed < 2**32:
        raise InputError(f"--seed must be a whole number from 0 to 4294967295; got {args.seed}.")
    _positive_int(args.epochs, "--epochs", high=100_000)
    if not (math.isfinite(args.learning_rate) and 0 < args.learning_rate <= 1):
        raise InputError(f"--learning-rate must be a positive number up to 1 (default 0.001); got {args.learning_rate}.")
    if args.polarity != "negative" and not getattr(args, "data", None):
        raise InputError("--polarity describes the windows of --data files; simulated training windows are "
                         "negative-going already. Leave --polarity out.")
    if args.simulate is not None:
        _positive_int(args.simulate, "--simulate", high=1_000_000)
        _check_simulation_memory(args.simulate)
    return pick_device(args.device)


def _check_simulation_memory(n_windows: int) -> None:
    from nwbsyn._shared import InputError
    from nwbsyn._shared import available_memory_bytes

    need = n_windows * 600 * 8 * 6  # float64 windows, their events, noise and scaled copies
    available = available_memory_bytes()
    if need > 0.8 * available:
        raise InputError(f"--simulate {n_windows} needs about {need / 2**30:.1f} GiB of memory, more than the "
                         f"{available / 2**30:.1f} GiB available; simulate fewer windows.")


def _training_data(args: argparse.Namespace):
    from nwbsyn.events import train

    if args.recipe in ("default", "simulated"):
        return train.default_training_windows(seed=args.seed, realistic=args.recipe == "default")
    if args.simulate is not None:
        return train.make_training_windows(args.simulate, rng=args.seed)
    return train.read_training_files(args.data, unclear=args.unclear, polarity=args.polarity)


def _cmd_train(args: argparse.Namespace) -> int:
    from nwbsyn._shared import InputError
    from nwbsyn.events import train
    from nwbsyn.events.model import card_path_for, load_model, resolve_model_path
    from nwbsyn.io.output import claim_output

    device = _check_train_options(args)
    inputs = list(args.data or [])
    if args.base is not None:
        inputs.append(resolve_model_path(args.base))
    output = Path(args.output)
    with claim_output(output, inputs=inputs, overwrite=args.overwrite, what="checkpoint") as claim, \
            claim_output(card_path_for(output), inputs=inputs, overwrite=args.overwrite, what="model card") as card:
        if output.suffix.lower() != ".pt":
            raise InputError(f"The checkpoint {output} (-o) must end in .pt (detect reads .h5 and .keras files as "
                             "Keras models); choose a name like model.pt.")
        if args.base is not None:
            load_model(args.base, device="cpu")  # a broken base model fails before the data are read
        data = _training_data(args)
        config = train.TrainConfig(learning_rate=args.learning_rate, max_epochs=args.epochs, device=device)
        result = train.fit(data.windows, data.labels, config=config, seed=args.seed, checkpoint=claim, card_path=card,
                           init_from=args.base, freeze_conv=args.freeze_conv, name=output.stem,
                           data_description=data.source, command=core.command_line(), progress_bar=not args.quiet)
    print(f"{result.checkpoint}: best epoch {result.best_epoch}, validation accuracy "
          f"{result.best_val_accuracy:.4f}, loss {result.best_val_loss:.4f} ({len(data.labels)} windows)")
    return 0


def _check_detect_options(args: argparse.Namespace):
    """Check the detection options and load the model before the input is opened: (device, model)."""
    from nwbsyn._shared import pick_device
    from nwbsyn.events.model import load_model
    from nwbsyn.events.nwb import check_detection_options

    check_detection_options(threshold=args.threshold, stride_samples=args.stride, mode=args.mode)
    _check_exclusion_options(args)
    device = pick_device(args.device)
    return device, load_model(args.model, device=device)


def _check_exclusion_options(args: argparse.Namespace) -> None:
    """Malformed --exclude / --exclude-session windows and a bad --evoked-window fail before any file is read."""
    import math

    from nwbsyn._shared import InputError
    from nwbsyn.events.exclude import parse_windows

    parse_windows(args.exclude, option="--exclude")
    parse_windows(args.exclude_session, option="--exclude-session")
    if args.evoked_window is not None and not (math.isfinite(args.evoked_window) and 0 <= args.evoked_window <= 60_000):
        raise InputError(f"The evoked window (--evoked-window) must be a number of milliseconds from 0 to 60000; "
                         f"got {args.evoked_window}.")


def _claim_plot(stack, args: argparse.Namespace, output):
    """Check and lock the --plot file before the analysis: a known suffix, not an input, writable."""
    core.check_plot_path(args.plot)
    inputs = [args.input] + ([args.model] if args.model != "default" else [])
    return core.claim_side_output(stack, args.plot, option="--plot", what="figure",
                             others=[(f"the NWB output {output}", output)], inputs=inputs, overwrite=args.overwrite)


@contextmanager
def _schema_errors(source):
    """An input whose objects break the NWB schema cannot be written back: one sentence, not a bug report."""
    from hdmf.build import BuildError

    from nwbsyn._shared import InputError

    try:
        yield
    except BuildError as err:
        what = str(err).splitlines()[0][:160] if str(err) else type(err).__name__
        raise InputError(f"{source} holds objects that break the NWB schema ({what}), so the result cannot be "
                         "written; check the file with 'nwbsyn validate'.") from err


def _cmd_detect(args: argparse.Namespace) -> int:
    from contextlib import ExitStack

    from nwbsyn import events, io

    device, network = _check_detect_options(args)
    polarity = {"negative": -1, "positive": 1, "both": "both", "auto": None}[args.polarity]
    output = args.output
    where = args.input if args.in_place else (output or io.default_output_path(args.input))
    with ExitStack() as stack, _schema_errors(args.input):
        plot = _claim_plot(stack, args, where)
        with io.edit_nwb(args.input, output=output, in_place=args.in_place, overwrite=args.overwrite) as nwbfile:
            run = events.run_on_nwbfile(
                nwbfile, series=args.series, model=args.model, threshold=args.threshold, mode=args.mode,
                polarity=polarity, stride_samples=args.stride, device=device, embed_weights=not args.no_weights,
                keep_transients=args.keep_transients, overwrite=args.overwrite, progress_bar=not args.quiet,
                network=network, exclude=args.exclude, exclude_session=args.exclude_session,
                evoked_window_ms=args.evoked_window, drop_action_potentials=not args.keep_action_potentials,
                announce=print,
            )
            figure = events.plot_detections(run) if plot is not None else None  # from the NWB objects it wrote
        if figure is not None:  # saved once the NWB file is written: a failed run leaves no figure
            from nwbsyn.events.plot import save_figure

            save_figure(figure, plot)
    print(run.summary(where=where))
    return 0


def _cmd_convert_abf(args: argparse.Namespace) -> int:
    from nwbsyn.io.abf import convert_abf

    output = args.output or Path(args.input).with_suffix(".nwb")
    result = convert_abf(args.input, output=output, overwrite=args.overwrite, subject=core.subject_from_arguments(args),
                         clamp_mode=args.clamp_mode, channels=args.channel)
    stimuli = f", {result.n_stimuli} stimuli (intervals/stimuli)" if result.n_stimuli else ""
    print(f"{result.output}: {result.mode}, {result.n_sweeps} sweeps, {len(result.series)} series{stimuli}")
    if len(result.channels) > 1:
        print("  channels: " + "; ".join(result.channels))
    if result.missing_metadata:
        print("note: DANDI needs subject " + ", ".join(result.missing_metadata) +
              "; add --subject-id/--species/--sex/--age before uploading.")
    return 0
