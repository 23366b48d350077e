"""Speed benchmarks: Passerelle against its peers (Pyserini, FAISS, Lucene, bm25s), capacity and scale.

The top floor under the CLI: it may import :mod:`passerelle.eval`, :mod:`passerelle.service` and
:mod:`passerelle.indexing`; nothing imports it but ``passerelle bench``. Entry points:
:func:`~passerelle.bench.suite.run_all` (``passerelle bench all``), :mod:`~passerelle.bench.search`,
:mod:`~passerelle.bench.scale`, :mod:`~passerelle.bench.shards`, :mod:`~passerelle.bench.index_build`,
:mod:`~passerelle.bench.profile`, and :mod:`~passerelle.bench.report` (Markdown from the JSON results).
Importing this package imports none of them.
"""
