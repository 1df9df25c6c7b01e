"""Captions: caption files to timed tokens (rule asr), their language, the vocabulary and the 5-second segments."""
