"""Serving one index from several processes (Ray Serve): store replicas that hold shards and BM25, and the
ingress-side stores that fan a query out to them and merge exactly as one process does. Nothing here
imports Ray at module level; :mod:`passerelle.service.api.ray_ingress` deploys it."""
