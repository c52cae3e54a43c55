"""Media files -> TFRecord shards of audio + low-resolution frames (Beam).

  python -m multimodal.prepare --input=videos/ --output=prepared/
  python -m multimodal.prepare --input='videos/**/*.mp4' --output=prepared/ \\
      --clip_seconds=10 --fps=10 --resolution=64 --num_shards=256
  python -m multimodal.prepare --input=list.csv --output=gs://b/prepared \\
      --runner=DataflowRunner --project=P --region=R \\
      --temp_location=gs://b/tmp --setup_file=./setup.py

`--input` is a folder (searched recursively for media files), a glob, or a
list file (.txt: one path per line; .csv: `path[,label1;label2]`). Flags
this program does not know are Beam pipeline options.

Each input is decoded whole (common/io/media.py), cut into clips and
written as one tf.train.Example per clip (common/data/tfrecord_source.py). All
clips of an input go to shard `hash(path) % num_shards`, so the assignment
is deterministic and a re-run knows, before decoding anything, which inputs
belong to shards that already exist: those are not decoded again. A shard is
written under a temporary name and renamed when complete, and then its
manifest is committed (manifests/<shard>.json: its inputs, clips, skips and
the shard's size); a shard is done when it exists and its manifest lists
exactly the inputs that map to it now, at its size, so a kill between the
two writes it again, and adding or removing inputs rewrites just the shards
concerned. One prepare at a time holds an output (common/io/folder_lock.py).
Inputs that cannot be used are skipped and counted by reason; the run fails
(exit 1) only when no input gave a clip.
"""

import contextlib
import dataclasses
import difflib
import hashlib
import json
import logging as std_logging
import os
import sys
import time
import uuid

from absl import app
from absl import flags
from absl import logging
import apache_beam as beam
from apache_beam.metrics import Metrics
from apache_beam.metrics.metric import MetricsFilter
from apache_beam.options.pipeline_options import DirectOptions
from apache_beam.options.pipeline_options import PipelineOptions
import tensorflow as tf
import tqdm

from common.data import data_sources
from common.data import tfrecord_source
from common.io import audio_io
from common.io import filesystem
from common.io import folder_lock
from common.io import list_files
from common.io import media
from common.io import paths
from common.io import state_files

LIST_EXTENSIONS = (".txt", ".csv", ".list", ".lst")
MANIFESTS = "manifests"
INPUTS_PER_SHARD = 256  # With --num_shards=0: ~128 MB shards of 10 s clips.
METRICS_NAMESPACE = "prepare"
DECODE_FAILED = "decode_failed"  # An error of a kind the decoder did not name.


@dataclasses.dataclass(frozen=True)
class Input:
  path: str
  labels: tuple = ()


def shard_of(path, num_shards):
  """Deterministic shard of an input (stable across processes and runs)."""
  # surrogateescape: a non-UTF-8 file name hashes as its bytes.
  digest = hashlib.sha256(path.encode("utf-8", "surrogateescape")).digest()
  return int.from_bytes(digest[:8], "big") % num_shards


def _read_list(list_path):
  """A .csv (path[,label1;label2], common/io/list_files.py) or text (one path
  per line) list of inputs."""
  base = os.path.dirname(list_path)
  if list_path.lower().endswith(".csv"):
    rows = [(r[0], tuple(l.strip() for l in (r[1] if len(r) > 1 else "")
                         .split(";") if l.strip()))
            for r in list_files.csv_rows(list_path)]
  else:
    with filesystem.open(list_path) as f:
      rows = [(line.strip(), ()) for line in f
              if line.strip() and not line.strip().startswith("#")]
  items = []
  for path, labels in rows:
    if not filesystem.is_remote(path) and not os.path.isabs(path):
      path = os.path.join(base, path)
    items.append(Input(path, labels))
  return items


def list_inputs(spec, folder_labels=False):
  """--input -> sorted, de-duplicated [Input] (normalized paths)."""
  if filesystem.isdir(spec):
    items, ignored = [], 0
    # Folders as `files:` sources list them: local names need not be UTF-8
    # (which tf.io.gfile would refuse, stopping the run), links are followed.
    unlisted = []
    for root, files in data_sources.walk_files(spec, unlisted):
      for name in files:
        if not name.lower().endswith(media.MEDIA_EXTENSIONS):
          ignored += 1
          continue
        path = filesystem.join(root, name)
        parent = os.path.relpath(root, spec)
        label = () if not folder_labels or parent == "." else (
            parent.split(os.sep)[0],)
        items.append(Input(path, label))
    if ignored:
      logging.info("--input=%s: ignored %d files that are not media by "
                   "their extension", spec, ignored)
    for error in unlisted:
      logging.warning("--input=%s: cannot list folder %s (%s): its files "
                      "are not inputs", spec, getattr(error, "filename", "?"),
                      getattr(error, "strerror", None) or error)
  elif spec.lower().endswith(LIST_EXTENSIONS) and filesystem.exists(spec):
    items = _read_list(spec)
  else:
    items = [Input(p) for p in filesystem.glob(spec)
             if not filesystem.isdir(p)]
  merged = {}
  for item in items:
    path = filesystem.absolute(item.path)
    if path in merged and merged[path] != item.labels:
      logging.warning("%s listed twice with different labels; using both",
                      path)
    merged[path] = tuple(dict.fromkeys(merged.get(path, ()) + item.labels))
  return [Input(p, merged[p]) for p in sorted(merged)]


def _open_input(path):
  """What PyAV reads: the path itself, or a file object for remote paths."""
  return filesystem.open(path, "rb") if filesystem.is_remote(path) else path


def _key(text):
  """A path or clip id as bytes for Beam's coders, which encode str as
  strict UTF-8: a non-UTF-8 file name (surrogates) is its own bytes. What
  crosses stages holding paths is bytes or JSON (escaped) for that reason."""
  return text.encode("utf-8", "surrogateescape")


class DecodeInputs(beam.DoFn):
  """Input (JSON line) -> (shard, (clip_id, Example)) and, tagged "inputs",
  (shard, what happened to the input)."""

  def __init__(self, settings, num_shards, label_index, jpeg_quality,
               progress_total):
    self.settings = settings
    self.num_shards = num_shards
    self.label_index = label_index
    self.jpeg_quality = jpeg_quality
    self.progress_total = progress_total
    self.decoded = Metrics.counter(METRICS_NAMESPACE, "inputs_decoded")
    self.skipped = Metrics.counter(METRICS_NAMESPACE, "inputs_skipped")
    self.clips = Metrics.counter(METRICS_NAMESPACE, "clips_decoded")
    self._bar = None

  def setup(self):
    if self.progress_total:
      self._bar = tqdm.tqdm(total=self.progress_total, unit="input",
                            desc="preparing", file=sys.stderr)

  def teardown(self):
    if self._bar is not None:
      self._bar.close()

  def _skip(self, shard, path, reason, detail):
    self.skipped.inc()
    Metrics.counter(METRICS_NAMESPACE, f"skipped_{reason}").inc()
    logging.warning("skipped %s: %s (%s)", path, reason, detail)
    return beam.pvalue.TaggedOutput("inputs", (shard, json.dumps({
        "path": path, "reason": reason, "detail": detail})))

  def process(self, line):
    item = json.loads(line)
    path, labels = item["path"], item["labels"]
    shard = shard_of(path, self.num_shards)
    try:
      source = _open_input(path)
      try:
        clips = media.read_clips(source, self.settings, path)
      finally:
        if hasattr(source, "close"):
          source.close()
    except audio_io.AudioError as e:
      yield self._skip(shard, path, e.reason, e.detail)
      return
    except (MemoryError, KeyboardInterrupt):
      raise
    except Exception as e:  # pylint: disable=broad-except
      # One odd file must not stop a corpus-wide run: counted, not raised.
      logging.exception("unexpected error decoding %s", path)
      yield self._skip(shard, path, DECODE_FAILED,
                       f"{type(e).__name__}: {e}")
      return
    finally:
      if self._bar is not None:
        self._bar.update(1)
    ids = [self.label_index[l] for l in labels]
    seconds = 0.0
    for clip in clips:
      clip_id = f"{path}#{clip.index}"
      yield shard, (_key(clip_id), tfrecord_source.encode_example(
          clip_id, clip.audio, self.settings.sample_rate, clip.frames,
          self.settings.fps if clip.frames.size else 0.0, source=path,
          clip_index=clip.index, start_seconds=clip.start_seconds,
          labels=ids, label_text=labels, frame_size=self.settings.resolution,
          jpeg_quality=self.jpeg_quality))
      seconds += clip.audio.size / self.settings.sample_rate
    self.decoded.inc()
    self.clips.inc(len(clips))
    yield beam.pvalue.TaggedOutput("inputs", (shard, json.dumps({
        "path": path, "clips": len(clips), "seconds": round(seconds, 4)})))


class WriteShard(beam.DoFn):
  """(shard, {"clips", "inputs"}) -> the shard file and its manifest."""

  def __init__(self, output, num_shards):
    self.output = output
    self.num_shards = num_shards
    self.written = Metrics.counter(METRICS_NAMESPACE, "clips_written")
    self.shards = Metrics.counter(METRICS_NAMESPACE, "shards_written")

  def process(self, element):
    shard, groups = element
    clips = sorted(groups["clips"])  # By clip id: the same bytes each run.
    inputs = sorted((json.loads(i) for i in groups["inputs"]),
                    key=lambda i: i["path"])
    name = tfrecord_source.shard_name(shard, self.num_shards)
    final = os.path.join(self.output, name)
    tmp = os.path.join(self.output, f".{name}.tmp-{uuid.uuid4().hex}")
    # The shard first, then its manifest: a kill between the two leaves a
    # shard no manifest vouches for, which the next run writes again.
    with state_files.writing(f"shard {final}", cleanup=[tmp]):
      with tf.io.TFRecordWriter(tmp) as writer:
        for _, record in clips:
          writer.write(record)
      filesystem.commit_file(tmp, final)
    manifest = {"shard": name, "clips": len(clips),
                "bytes": tf.io.gfile.stat(final).length, "inputs": inputs}
    state_files.write_json_atomic(
        os.path.join(self.output, MANIFESTS, name + ".json"), manifest,
        indent=1)
    self.written.inc(len(clips))
    self.shards.inc()
    yield name


def _settings_record(settings, num_shards, jpeg_quality):
  record = dataclasses.asdict(settings)
  record.update(num_shards=num_shards, jpeg_quality=jpeg_quality,
                clip_samples=settings.clip_samples,
                frames_per_clip=settings.frames_per_clip)
  return record


def _manifest(output, name):
  return state_files.read_json(os.path.join(output, MANIFESTS, name + ".json"))


def _done_shards(output, num_shards, by_shard):
  """Shards that exist and hold exactly the inputs that map to them now."""
  done = set()
  for shard in range(num_shards):
    name = tfrecord_source.shard_name(shard, num_shards)
    path = os.path.join(output, name)
    if not tf.io.gfile.exists(path):
      continue
    try:
      manifest = _manifest(output, name)
    except state_files.DamagedFile as e:
      logging.warning("%s; its shard is written again", e)
      continue
    # The size ties the manifest to the shard it was written for.
    # (Manifests written before sizes were recorded have none.)
    size = tf.io.gfile.stat(path).length
    if manifest is not None and manifest.get("bytes", size) == size and sorted(
            i["path"] for i in manifest["inputs"]) == sorted(by_shard[shard]):
      done.add(shard)
  return done


def _remove_stale_temporaries(output):
  stale = filesystem.matching(output, ".*.tmp-*")
  for path in stale:
    tf.io.gfile.remove(path)
  if stale:
    logging.info("removed %d temporary files of an interrupted run",
                 len(stale))


@contextlib.contextmanager
def _quiet(logger_name):
  """Only critical records of one of Beam's loggers, inside the block."""
  logger = std_logging.getLogger(logger_name)
  level = logger.level
  logger.setLevel(std_logging.CRITICAL)
  try:
    yield
  finally:
    logger.setLevel(level)


def _pipeline_options(runner, pipeline_args):
  """Beam options; the DirectRunner runs in-process on the FnApiRunner."""
  options = PipelineOptions(list(pipeline_args) + [f"--runner={runner}"])
  if runner == "DirectRunner":
    # Beam's DirectRunner would first try Prism, which downloads a binary;
    # its in-process FnApiRunner is what the DirectRunner falls back to.
    from apache_beam.runners.portability.fn_api_runner import fn_runner
    return fn_runner.FnApiRunner(), options
  return runner, options


def _lines(path):
  with filesystem.open(path) as f:
    for line in f:
      if line.strip():
        yield line


def _run_pipeline(output, pending_inputs, pending_shards, settings,
                  num_shards, label_index, jpeg_quality, runner,
                  pipeline_args, progress):
  # The work list goes through a file, not the pipeline graph, which
  # runners limit in size (millions of paths would not fit).
  work = os.path.join(output, f".pending-inputs.tmp-{uuid.uuid4().hex}")
  with tf.io.gfile.GFile(work, "w") as f:
    for item in pending_inputs:
      f.write(json.dumps({"path": item.path, "labels": list(item.labels)})
              + "\n")
  beam_runner, options = _pipeline_options(runner, pipeline_args)
  # One bar for the whole run only when the work happens in this process.
  local = runner == "DirectRunner" and options.view_as(
      DirectOptions).direct_running_mode == "in_memory"
  pipeline = beam.Pipeline(runner=beam_runner, options=options)
  decoded = (
      pipeline
      | "InputList" >> beam.Create([work])
      # Through tf.io.gfile, not Beam's own filesystems: any path the
      # tools take (Beam's know gs:// only with apache-beam[gcp]).
      | "ReadInputList" >> beam.FlatMap(_lines)
      | "Spread" >> beam.Reshuffle()
      | "Decode" >> beam.ParDo(DecodeInputs(
          settings, num_shards, label_index, jpeg_quality,
          len(pending_inputs) if progress and local else 0)).with_outputs(
              "inputs", main="clips"))
  shards = pipeline | "PendingShards" >> beam.Create(
      [(s, None) for s in sorted(pending_shards)])
  _ = ({"clips": decoded.clips, "inputs": decoded.inputs, "shard": shards}
       | "GroupByShard" >> beam.CoGroupByKey()
       | "Write" >> beam.ParDo(WriteShard(output, num_shards)))
  # A failing DoFn's error reaches the caller (and the one error line);
  # Beam's worker would log its traceback above it first.
  with _quiet("apache_beam.runners.common"):
    result = pipeline.run()
    result.wait_until_finish()
  tf.io.gfile.remove(work)
  counters = {}
  try:
    query = result.metrics().query(
        MetricsFilter().with_namespace(METRICS_NAMESPACE))
    for counter in query["counters"]:
      value = counter.committed if counter.committed is not None else (
          counter.attempted)
      counters[counter.key.metric.name] = (
          counters.get(counter.key.metric.name, 0) + value)
  except (NotImplementedError, AttributeError, KeyError):
    logging.info("this runner does not report metrics to the launcher")
  return counters


def _summarize(output, input_spec, record, num_shards, label_names):
  """Merges every shard's manifest into the run's summary."""
  skipped, reasons, shards = [], {}, []
  clips = used = 0
  seconds = 0.0
  for shard in range(num_shards):
    name = tfrecord_source.shard_name(shard, num_shards)
    manifest = _manifest(output, name)
    shards.append({"name": name, "clips": manifest["clips"],
                   "inputs": len(manifest["inputs"])})
    clips += manifest["clips"]
    for item in manifest["inputs"]:
      if "reason" in item:
        skipped.append(item)
        reasons[item["reason"]] = reasons.get(item["reason"], 0) + 1
      else:
        used += 1
        seconds += item["seconds"]
  skipped.sort(key=lambda i: i["path"])
  return {
      "input": input_spec,
      "output": output,
      "settings": record,
      "label_names": label_names,
      "inputs": used + len(skipped),
      "inputs_used": used,
      "inputs_skipped": len(skipped),
      "skipped_by_reason": dict(sorted(reasons.items())),
      "skipped": skipped,
      "clips_written": clips,
      "seconds_of_audio": round(seconds, 3),
      "shards": shards,
  }


def _check_usable(summary):
  if summary["clips_written"] == 0:
    reasons = ", ".join(f"{n} {r}" for r, n in
                        summary["skipped_by_reason"].items()) or "none"
    raise data_sources.NoUsableData(
        f"--input={summary['input']}: no usable media among "
        f"{summary['inputs']} inputs (skipped: {reasons})")


def prepare(input_spec, output, settings=None, num_shards=0, jpeg_quality=90,
            folder_labels=False, runner="DirectRunner", pipeline_args=(),
            progress=True):
  """Runs (or completes) a preparation; returns the summary dict.

  Raises:
    NoUsableData: no input was found, or none gave a clip.
    ValueError: `output` was prepared with other settings.
  """
  settings = settings or media.ClipSettings()
  start = time.time()
  inputs = list_inputs(input_spec, folder_labels)
  if not inputs:
    raise data_sources.NoUsableData(f"--input={input_spec}: no media files")
  paths.check_inside(output, [MANIFESTS, folder_lock.LOCK_FILE])
  tf.io.gfile.makedirs(output)
  with folder_lock.FolderLock(output, "multimodal.prepare"):
    tf.io.gfile.makedirs(os.path.join(output, MANIFESTS))
    return _prepare(inputs, input_spec, output, settings, num_shards,
                    jpeg_quality, runner, pipeline_args, progress, start)


def _prepare(inputs, input_spec, output, settings, num_shards, jpeg_quality,
             runner, pipeline_args, progress, start):
  spec_path = os.path.join(output, tfrecord_source.SPEC_FILE)
  existing = state_files.read_json(spec_path)
  if not num_shards:
    num_shards = (existing["settings"]["num_shards"] if existing else
                  min(4096, max(1, -(-len(inputs) // INPUTS_PER_SHARD))))
  record = _settings_record(settings, num_shards, jpeg_quality)
  label_names = sorted({l for item in inputs for l in item.labels})
  if existing and (existing["settings"] != record or
                   existing["label_names"] != label_names):
    raise ValueError(
        f"--output={output} was prepared with other settings or labels "
        f"({existing['settings']}, {len(existing['label_names'])} labels); "
        "use a new --output folder")
  by_shard = {s: [] for s in range(num_shards)}
  for item in inputs:
    by_shard[shard_of(item.path, num_shards)].append(item.path)
  done = _done_shards(output, num_shards, by_shard)
  pending = sorted(set(range(num_shards)) - done)
  summary_path = os.path.join(output, tfrecord_source.SUMMARY_FILE)
  if not pending and tf.io.gfile.exists(summary_path):
    summary = state_files.read_json(summary_path)
    summary["this_run"] = {  # Returned, not written: nothing changes.
        "shards_written": 0, "shards_kept": len(done), "counters": {},
        "seconds": round(time.time() - start, 3)}
    logging.info("%s: all %d shards are complete; nothing to do", output,
                 num_shards)
    _check_usable(summary)
    return summary
  counters = {}
  if pending:
    if not existing:
      state_files.write_json_atomic(spec_path, tfrecord_source.spec_json(
          record, label_names))
    _remove_stale_temporaries(output)
    pending_set = set(pending)
    todo = [i for i in inputs if shard_of(i.path, num_shards) in pending_set]
    logging.info("%d inputs, %d shards: %d complete, decoding %d inputs for "
                 "the other %d", len(inputs), num_shards, len(done),
                 len(todo), len(pending))
    counters = _run_pipeline(
        output, todo, pending, settings, num_shards,
        {name: i for i, name in enumerate(label_names)}, jpeg_quality,
        runner, pipeline_args, progress)
  summary = _summarize(output, input_spec, record, num_shards, label_names)
  summary["this_run"] = {
      "shards_written": len(pending), "shards_kept": len(done),
      "counters": counters, "seconds": round(time.time() - start, 3)}
  state_files.write_json_atomic(summary_path, summary)
  logging.info("%s: %d clips (%.1f s of audio) from %d of %d inputs in %d "
               "shards; skipped %s", output, summary["clips_written"],
               summary["seconds_of_audio"], summary["inputs_used"],
               summary["inputs"], num_shards,
               summary["skipped_by_reason"] or "none")
  _check_usable(summary)
  return summary


FLAGS = flags.FLAGS
flags.DEFINE_string("input", None, "Folder (searched recursively), glob, or "
                    "list file (.txt paths / .csv path,labels) of media.")
flags.DEFINE_string("output", None, "Folder for shards, feature_spec.json "
                    "and summary.json (local or any tf.io.gfile path).")
flags.DEFINE_float("clip_seconds", 10.0, "Length of each clip.")
flags.DEFINE_float("fps", 10.0, "Frames per second kept (0: audio only).")
flags.DEFINE_integer("resolution", 64, "Side of the square frames, pixels.")
flags.DEFINE_integer("sample_rate", audio_io.SAMPLE_RATE, "Audio rate, Hz.")
flags.DEFINE_float("min_clip_fraction", 0.5, "Keep a shorter last clip when "
                   "it holds at least this share of --clip_seconds.")
flags.DEFINE_integer("num_shards", 0, "Shard count (0: the existing output's, "
                     f"or one per {INPUTS_PER_SHARD} inputs).")
flags.DEFINE_integer("jpeg_quality", 90, "JPEG quality of the frames.")
flags.DEFINE_bool("folder_labels", False, "Label inputs of a folder --input "
                  "by their first sub-folder name.")
flags.DEFINE_string("runner", "DirectRunner", "Beam runner (DirectRunner, "
                    "DataflowRunner, FlinkRunner, SparkRunner, ...).")
flags.DEFINE_bool("progress", True, "Progress bar (DirectRunner only).")


def main(argv):
  pipeline_args = argv[1:]
  try:
    settings = media.ClipSettings(
        sample_rate=FLAGS.sample_rate, clip_seconds=FLAGS.clip_seconds,
        fps=FLAGS.fps, resolution=FLAGS.resolution,
        min_clip_fraction=FLAGS.min_clip_fraction)
    summary = prepare(FLAGS.input, FLAGS.output, settings, FLAGS.num_shards,
                      FLAGS.jpeg_quality, FLAGS.folder_labels, FLAGS.runner,
                      pipeline_args, FLAGS.progress)
  except (data_sources.NoUsableData, ValueError, folder_lock.FolderBusy,
          state_files.WriteFailed) as e:
    logging.error("%s", e)
    print(f"error: {e}", file=sys.stderr)
    sys.exit(1)
  print(f"done: {summary['clips_written']} clips, "
        f"{summary['seconds_of_audio']:.1f} s of audio, from "
        f"{summary['inputs_used']} of {summary['inputs']} inputs "
        f"({summary['inputs_skipped']} skipped) in "
        f"{len(summary['shards'])} shards at {FLAGS.output}")


def unknown_arguments(args):
  """The arguments that are neither this program's flags (already taken
  by absl) nor Beam pipeline options: a typo must not be ignored."""
  options = PipelineOptions(list(args))
  # Beam's own warning about them: the error line says it.
  with _quiet("apache_beam.options.pipeline_options"):
    known = set(options.get_all_options())
  found = [a for a in args if not a.startswith("-")]
  for name in sorted(set(options.get_all_options(
      retain_unknown_options=True)) - known):
    found.append("--" + name.split("=", 1)[0])
  return found


def _parse_flags(argv):
  """absl flags for this program; Beam pipeline options go to Beam, and
  anything else is an error (exit 2)."""
  try:
    rest = FLAGS(argv, known_only=True)
  except flags.Error as e:
    print(f"error: {e}", file=sys.stderr)
    sys.exit(2)
  unknown = unknown_arguments(rest[1:])
  if unknown:
    hints = []
    for arg in unknown:
      close = difflib.get_close_matches(arg.lstrip("-").split("=")[0],
                                        list(FLAGS), n=1)
      hints.append(f"{arg} (did you mean --{close[0]}?)" if close else arg)
    print(f"error: unknown argument {', '.join(hints)}: neither a flag of "
          "multimodal.prepare (--helpfull lists them) nor a Beam pipeline "
          "option", file=sys.stderr)
    sys.exit(2)
  return rest


if __name__ == "__main__":
  flags.mark_flags_as_required(["input", "output"])
  app.run(main, flags_parser=_parse_flags)
