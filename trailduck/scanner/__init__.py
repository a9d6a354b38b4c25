"""The trail: parse its keys, list it by account, region and day, and read its objects from S3 or a folder."""
