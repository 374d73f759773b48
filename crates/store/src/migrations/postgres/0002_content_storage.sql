-- Section content arrives LZ4-compressed: PostgreSQL compressing it again
-- costs CPU for nothing, so store it out of line, uncompressed.
ALTER TABLE inventory_sections ALTER COLUMN content SET STORAGE EXTERNAL;
