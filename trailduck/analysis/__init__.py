"""Reading the lake: queries, and the report of the detections and analysis views."""
