"""The model and the lens: loading, structural part discovery, batches and the shared-prefix cache,
backends (hf, nnsight, TransformerLens, NDIF), the logit lens and ``LensModel``."""
