-- Schema 4: the ops indexes no query used (or every read-only op paid for)
-- go; the subtree hashes get their in-order table.
DROP INDEX IF EXISTS ops_iss_created;
DROP INDEX IF EXISTS ops_budget;
DROP INDEX IF EXISTS ops_state;
CREATE TABLE IF NOT EXISTS ledger_tree (pos INTEGER PRIMARY KEY, hash BLOB NOT NULL);
