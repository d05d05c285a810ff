-- Every envelope that discloses a case writes a disclosure row when its
-- receipt is recorded, and each index on disclosures takes an entry then.
-- The unique index on outbox_id (from its UNIQUE constraint) served no
-- query: disclosures are read by case (disclosures_case_idx), and a
-- disclosure is written only by the statement that moves its outbox row
-- to delivered, for the rows that statement moved (state <> 'delivered',
-- under the row's lock), so no row gets two whatever the index. It goes:
-- one index entry and WAL record less per envelope delivered. (SQLite
-- keeps it: dropping a constraint there rebuilds the table.)
ALTER TABLE disclosures DROP CONSTRAINT IF EXISTS disclosures_outbox_id_key;
