"""How a grammar reads phrases cut mid-sentence, with and without ``--partial``.

Each clip is read whole, cut to its words ``--margin`` frames either side (the rest around the
sentence left out), cut as many frames after each of its words but the last (the start of a
sentence: what a video, a span or a lost face that ends mid-sentence leaves) and before each word
but the first (the end of a sentence). Each cut is read as ``transcribe`` reads a phrase (the model
on the cut frames, with rest added where it sees too little, then ``Transcriber.read_outputs``),
once in the grammar's whole sentences and once with ``partial``, and scored against the words it
holds (word times from the manifest). ``--rest-frames 0`` reads the cut frames alone, as before
the rest was added.

    python benchmarks/cut_sentence_wer.py --data DATASET --split ../shared/grid/splits/s1_val.txt
    python benchmarks/cut_sentence_wer.py --data DATASET --split ... --margin 0 5 --rest-frames 0
"""

from __future__ import annotations

import argparse
import math
import platform
from pathlib import Path

from tqdm import tqdm

from lipread.clips import ClipDataset, read_dataset
from lipread.evaluate import select_utterances
from lipread.metrics import word_counts
from lipread.transcribe import CONFIDENCE_N_BEST, Transcriber

KINDS = ("whole clip", "words only", "sentence start", "sentence end")


def cuts(words: list[str], spans: list[tuple[float, float]], frames: int, margin: int):
    """(kind, first frame, end frame, the words inside) for a clip whole, cut to its words (the rest
    around them left out), and cut around each word."""
    yield KINDS[0], 0, frames, words
    yield KINDS[1], max(0, math.floor(spans[0][0]) - margin), min(frames, math.ceil(spans[-1][1]) + margin), words
    for k in range(1, len(words)):
        yield KINDS[2], 0, min(frames, math.ceil(spans[k - 1][1]) + margin), words[:k]
        yield KINDS[3], max(0, math.floor(spans[k][0]) - margin), frames, words[k:]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, required=True, help="a dataset folder with word times")
    parser.add_argument("--split", type=Path, help="ids to read (default: all)")
    parser.add_argument("--checkpoint", type=Path, help="model folder or .ckpt (default: the shipped model)")
    parser.add_argument("--grammar", default="default", help="the grammar (default: the model's own)")
    parser.add_argument("--margin", type=int, nargs="+", default=[0, 5], help="frames kept beyond the words held")
    parser.add_argument("--rest-frames", type=int,
                        help="rest the reader makes sure the model sees either side of a phrase (0: none added; "
                        "default: the model's decoding.json)")  # fmt: skip
    args = parser.parse_args()
    transcriber = Transcriber.from_checkpoint(args.checkpoint, "cpu", args.grammar)
    if args.rest_frames is not None:
        transcriber.rest_frames = args.rest_frames
    if transcriber.grammar is None:
        parser.error("the model has no grammar of its own: give one with --grammar")
    card = transcriber.card
    utterances = [u for u in select_utterances(read_dataset(args.data), args.split) if u.spans]
    clips = ClipDataset(utterances, card.channels, card.input_size)
    print(f"{transcriber.name}, grammar {transcriber.grammar.name}, rest {transcriber.rest_frames} frames, "
          f"{len(utterances)} clips of {args.data}, "
          f"on {platform.machine()} ({platform.processor() or 'cpu'})")  # fmt: skip
    for margin in args.margin:
        # (kind, partial) -> references, readings, phrases read partial, phrases flagged out of domain
        table: dict[tuple[str, bool], tuple[list[str], list[str], list[bool], list[bool]]] = {
            (kind, partial): ([], [], [], []) for kind in KINDS for partial in (False, True)
        }
        for i, utterance in enumerate(tqdm(utterances, desc=f"margin {margin}", unit="clip")):
            frames = clips.frames(i)
            for kind, a, b, words in cuts(utterance.text.split(), utterance.spans, len(frames), margin):
                outputs = transcriber.log_probs([frames[a:b]])[0]
                for partial in (False, True):
                    transcriber.partial = partial
                    hyps, judged, _, _ = transcriber.read_outputs(outputs, "beam", CONFIDENCE_N_BEST)
                    for column, value in zip(table[kind, partial], (" ".join(words), hyps[0].text, judged.partial,
                                                                    judged.out_of_domain)):  # fmt: skip
                        column.append(value)
        print(f"\ncut {margin} frames beyond the words held")
        print(f"{'':<16} {'reading':<16} {'phrases':>7} {'WER':>8} {'inserted':>8} {'exact':>6} {'partial':>7} "
              f"{'flagged':>7}")  # fmt: skip
        for (kind, partial), (refs, hyps, partials, flagged) in table.items():
            counts = word_counts(refs, hyps)
            exact = sum(r == h for r, h in zip(refs, hyps))
            print(f"{kind:<16} {'--partial' if partial else 'whole sentences':<16} {len(refs):>7} {counts.rate:>8.2%} "
                  f"{counts.insertions:>8} {exact:>6} {sum(partials):>7} {sum(flagged):>7}")  # fmt: skip


if __name__ == "__main__":
    main()
