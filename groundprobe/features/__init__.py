"""Visual features: streaming decode, the pretrained backbones, and the per-shard HDF5 feature store."""
