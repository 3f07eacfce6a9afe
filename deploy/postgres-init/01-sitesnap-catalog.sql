-- The catalog of sitesnap (runs, users, audit) lives beside the blog, in its own database,
-- so backing up or restoring the blog never touches it.
CREATE DATABASE sitesnap;
