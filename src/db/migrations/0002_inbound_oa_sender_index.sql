DROP INDEX "inbound_sender_idx";--> statement-breakpoint
CREATE INDEX "inbound_oa_sender_idx" ON "inbound_messages" USING btree ("sender_id","received_at" DESC NULLS LAST) WHERE channel = 'wechat-oa';