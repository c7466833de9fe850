-- A sealed record is ciphertext: PostgreSQL's compression can only fail on it, and
-- moving a few kilobytes out to the TOAST table makes every commit write two tables.
-- Keep records in their row up to a page (EXTERNAL: never compressed, moved out only
-- past toast_tuple_target) and leave room in each page for updates in place (HOT).
ALTER TABLE mfa_user_records ALTER COLUMN sealed SET STORAGE EXTERNAL;
ALTER TABLE mfa_user_records SET (toast_tuple_target = 8160, fillfactor = 50);
