DROP TABLE resources;
DROP TABLE catalog_services;
DROP TABLE catalog_nodes;
DROP TABLE services;
DROP TABLE process_versions;
DROP TABLE processes;
