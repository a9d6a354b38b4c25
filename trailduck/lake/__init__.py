"""The lake: the one owner of every path and name in it, its writer, lock and recovery, compaction, views."""
