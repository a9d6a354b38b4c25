-- A day's rows of a lake partitioned by date, in the order its files keep (compaction; see
-- trailduck/lake/compact.py). {relation} is the day's files, registered as a pyarrow dataset.
SELECT * FROM {relation} ORDER BY {order}
