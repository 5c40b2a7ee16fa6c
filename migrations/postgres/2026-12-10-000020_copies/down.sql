DROP TABLE copies;
