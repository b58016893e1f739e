"""Reference embeddings from Python ONNX Runtime, for the Rust parity test.

Embeds each phrase of PHRASES_JSON ([{"kind": "query"|"passage", "text": ...}]) exactly as the
e5 recipe says: prefix "query: " or "passage: ", tokenizer.json, the ONNX graph, mean pooling over
the attention mask, L2 normalisation. Writes {"model_sha256", "dim", "phrases": [{kind, text,
vector}]} to OUT_JSON.

usage: reference.py MODEL_DIR PHRASES_JSON OUT_JSON
"""
import hashlib
import json
import os
import sys

import numpy as np
import onnxruntime
from tokenizers import Tokenizer


def main():
    model_dir, phrases_path, out = sys.argv[1:4]
    model_path = os.path.join(model_dir, "model.onnx")
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = 1
    options.log_severity_level = 3
    session = onnxruntime.InferenceSession(model_path, options, providers=["CPUExecutionProvider"])
    tokenizer = Tokenizer.from_file(os.path.join(model_dir, "tokenizer.json"))
    tokenizer.no_padding()
    phrases = json.load(open(phrases_path, encoding="utf-8"))
    results = []
    for phrase in phrases:
        encoding = tokenizer.encode(f"{phrase['kind']}: {phrase['text']}")
        ids = np.array([encoding.ids], np.int64)
        mask = np.array([encoding.attention_mask], np.int64)
        hidden = session.run(None, {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)})[0]
        weights = mask[..., None].astype(np.float32)
        pooled = (hidden * weights).sum(1) / weights.sum(1)
        vector = pooled[0] / np.linalg.norm(pooled[0])
        results.append({"kind": phrase["kind"], "text": phrase["text"], "vector": [float(v) for v in vector]})
    digest = hashlib.sha256(open(model_path, "rb").read()).hexdigest()
    json.dump({"model_sha256": digest, "dim": len(results[0]["vector"]), "phrases": results},
              open(out, "w", encoding="utf-8"), ensure_ascii=False, indent=1)
    print(f"reference: {len(results)} phrases -> {out}")


if __name__ == "__main__":
    main()
