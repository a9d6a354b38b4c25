-- {view}: the events the Sigma rule "{title}" matches ({file}), with who made each call (principal).
-- The condition is the rule's detection as trailduck/sigma/backend.py writes it (semantics:
-- trailduck/sigma/README.md); `trailduck views --sigma` installs one such view per rule.
CREATE OR REPLACE VIEW {view} AS
SELECT *, principal_of(userIdentity) AS principal
FROM events
WHERE {condition};
