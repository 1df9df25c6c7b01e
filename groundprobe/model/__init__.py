"""The joint clip/caption embedding and its training (rule train), in one process or several."""
