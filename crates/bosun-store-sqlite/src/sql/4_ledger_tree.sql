-- Schema 4: subtree hashes move from (level, idx) to their in-order
-- position idx * 2^(level+1) + 2^level - 1.
INSERT OR REPLACE INTO ledger_tree (pos, hash)
    SELECT (idx << (level + 1)) + (1 << level) - 1, hash FROM ledger_nodes;
DROP TABLE ledger_nodes;
