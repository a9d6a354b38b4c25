"""The main job: plan a run from the checkpoint and the listing, then fetch, convert and write in workers."""
