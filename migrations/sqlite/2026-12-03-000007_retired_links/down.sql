DROP TABLE retired_links;
