DROP INDEX "outbox_dedup_uq";--> statement-breakpoint
CREATE UNIQUE INDEX "outbox_dedup_uq" ON "outbox" USING btree ("dedup_key") WHERE dedup_key IS NOT NULL;