DROP INDEX applies_finished;
DROP TABLE insight_figures;
DROP TABLE insight_days;
