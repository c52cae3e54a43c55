"""Does video help? Audio-only linear probes after multimodal pre-training,
after COLA pre-training on the same audio, and at random initialisation.

  python -m multimodal.train --workdir=runs/multimodal
  python -m cola.train --workdir=runs/cola
  python -m benchmarks.multimodal_compare --multimodal=runs/multimodal --cola=runs/cola

Both runs' last checkpoints are probed (common/eval/downstream.py: clip embeddings
averaged over 1 s windows, a softmax classifier on the frozen encoder) on
clips of the embedded default (at their own level: both models level
each window, common/models/frontend.py) that pre-training never saw: `--clips` clips
of the validation split to train each probe, as many of the test split to
score it. Two tasks: the kind of sound source (6 classes), and its pitch in
quartiles (4 classes, bins from the training clips). The multimodal
model's audio side is probed as log-mel, waveform and both concatenated;
random rows are the same architectures, untrained (seed `--seed`).
"""

import json

from absl import app
from absl import flags
from absl import logging
import numpy as np
import tensorflow as tf

from common.data import synthetic
from common.eval import downstream
from common.train import runs

TASKS = ("kind", "pitch")


def probe_set(num_clips, split):
  """Waveforms and labels for both tasks from the embedded default."""
  seed = {"validation": 1, "test": 2}[split]
  clips = synthetic.make_clips(num_clips, seed=seed)
  return ([c.audio for c in clips], np.array([c.label for c in clips]),
          np.log([c.pitch for c in clips]))


def load_model(path, trained=True, seed=0):
  """A run's model at its last checkpoint (or freshly initialised)."""
  config, model = runs.restore_model(path, pretrained=trained, seed=seed)
  return model, config


def audio_encoders(model, config):
  """name -> Keras callable [n, samples] -> [n, D] for probing."""
  if config.method == "cola":
    return {"cola": model}
  encoders = {}
  if model.mel_encoder is not None:
    encoders["multimodal log-mel"] = (
        lambda x, training=False: model.encode_audio(
            x, ("mel",), training=training)["mel"])
  if model.wave_encoder is not None:
    # Through the frontend's level step, as in training.
    encoders["multimodal waveform"] = (
        lambda x, training=False: model.encode_audio(
            x, ("wave",), training=training)["wave"])
  return encoders


def embed(encoder, waveforms):
  graph = tf.function(lambda x: encoder(x, training=False))
  return downstream.clip_embeddings(lambda x, training=False: graph(x), waveforms)


def probe_all(encoders, train, test, seed=0):
  """{encoder name: {task: test accuracy}}; log-mel and waveform
  embeddings of the same model are also probed concatenated."""
  train_audio, train_kind, train_pitch = train
  test_audio, test_kind, test_pitch = test
  edges = np.quantile(train_pitch, [0.25, 0.5, 0.75])
  labels = {"kind": (train_kind, test_kind, synthetic.NUM_KINDS),
            "pitch": (np.digitize(train_pitch, edges),
                      np.digitize(test_pitch, edges), 4)}
  embeddings = {name: (embed(encoder, train_audio),
                       embed(encoder, test_audio))
                for name, encoder in encoders.items()}
  for name in list(embeddings):
    if name.endswith("multimodal log-mel"):
      wave = embeddings.get(name.replace("log-mel", "waveform"))
      if wave is not None:
        embeddings[name.replace("log-mel", "concat")] = tuple(
            np.concatenate(pair, -1) for pair in zip(embeddings[name], wave))
  results = {}
  for name, (train_x, test_x) in embeddings.items():
    results[name] = {
        task: downstream.linear_probe(train_x, y_train, test_x, y_test, classes,
                                 seed=seed)
        for task, (y_train, y_test, classes) in labels.items()}
    logging.info("%s: %s", name, results[name])
  return results


def compare(multimodal_workdir, cola_workdir=None, num_clips=300, seed=0):
  train = probe_set(num_clips, "validation")
  test = probe_set(num_clips, "test")
  encoders, steps = {}, {}
  for workdir in filter(None, (multimodal_workdir, cola_workdir)):
    for trained in (True, False):
      model, config = load_model(workdir, trained, seed)
      prefix = "" if trained else "random "
      for name, encoder in audio_encoders(model, config).items():
        encoders[prefix + name] = encoder
      if trained:
        steps[config.method] = int(model.optimizer.iterations.numpy())
  return {"steps": steps, "probe_clips": num_clips,
          "accuracy": probe_all(encoders, train, test, seed)}


def markdown(result):
  lines = ["| encoder | " + " | ".join(TASKS) + " |",
           "|---|" + "---|" * len(TASKS)]
  for name, scores in result["accuracy"].items():
    lines.append(f"| {name} | " + " | ".join(
        f"{scores[t]:.3f}" for t in TASKS) + " |")
  return "\n".join(lines)


def main(argv):
  del argv
  f = flags.FLAGS
  result = compare(f.multimodal, f.cola, f.clips, f.seed)
  print(f"pre-training steps: {result['steps']}")
  print(markdown(result))
  if f.output:
    with open(f.output, "w") as out:
      json.dump(result, out, indent=2)


if __name__ == "__main__":
  flags.DEFINE_string("multimodal", None, "Multimodal training workdir.",
                      required=True)
  flags.DEFINE_string("cola", None, "COLA training workdir (optional).")
  flags.DEFINE_integer("clips", 300, "Clips per probe split.")
  flags.DEFINE_integer("seed", 0, "Seed of the random-init encoders and "
                       "the probes.")
  flags.DEFINE_string("output", None, "Write the results as JSON here.")
  app.run(main)
