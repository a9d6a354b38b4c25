-- integrity: one row per log file checked by `trailduck verify`, with its status against the digest chain.
--
-- status: valid, hash_mismatch, missing, trailing_data, unreferenced or not_yet_covered; detail says why;
-- digest_key is the digest that vouches for (or names) the file. source_key is the object key relative to
-- the source root, the same as events.source_key, so findings join to the proof of their file:
--   SELECT e.eventName, i.status FROM events e LEFT JOIN integrity i USING (source_key)
-- ok: the status does not fail a verify run (the statuses come from trailduck/lake/verdicts.py).
CREATE OR REPLACE VIEW integrity AS
SELECT source_key, account, region, status, detail, digest_key, source, verified_at,
       status IN ({log_file_ok}) AS ok
FROM {log_files};

-- integrity_digests: one row per digest file checked (or named and missing), with its status:
-- valid, bad_signature, moved, missing, gap or unknown_key.
CREATE OR REPLACE VIEW integrity_digests AS
SELECT source_key, account, region, status, detail, source, verified_at,
       status IN ({digest_ok}) AS ok
FROM {digests};
