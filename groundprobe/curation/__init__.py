"""Data curation (CUPID, Zhou et al. 2021): video embeddings, the curated tables and their comparison."""
