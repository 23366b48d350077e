"""Sharded indexes: the layout (``shards.json``, document assignment), builds in process or on Ray, and the
stores that search every shard and merge exactly.

- :mod:`~passerelle.indexing.shards.layout`: ``shards.json``, :func:`~passerelle.indexing.shards.layout.shard_of`.
- :mod:`~passerelle.indexing.shards.build`: split a corpus among shards and build each with the ordinary pipeline.
- :mod:`~passerelle.indexing.shards.ray_build`: the same shard builds as Ray tasks.
- :mod:`~passerelle.indexing.shards.load`: one :class:`~passerelle.indexing.loaded.LoadedIndex` over all shards.

Importing this package imports none of them.
"""
