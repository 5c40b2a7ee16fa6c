-- An endpoint that takes events together has each request logged once,
-- naming the stream's rows it carried (event_row is the first of them).
ALTER TABLE webhook_deliveries ADD COLUMN event_rows TEXT;
