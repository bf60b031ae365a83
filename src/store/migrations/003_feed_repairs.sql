-- What had to be repaired to read each feed's last document (model.rs `Repair` names, comma
-- separated): NULL when it was well-formed.
ALTER TABLE feeds ADD COLUMN repairs TEXT;
