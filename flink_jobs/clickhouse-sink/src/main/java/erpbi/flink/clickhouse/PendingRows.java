package erpbi.flink.clickhouse;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.util.ArrayList;
import java.util.List;

import org.apache.flink.core.io.SimpleVersionedSerializer;

/**
 * The writer's checkpointed state: rows not yet in ClickHouse because their table could not
 * be written (a retriable failure). A checkpoint therefore never claims rows are landed
 * that are not: they are in the checkpoint instead, and a restored writer inserts them first.
 */
record PendingRows(List<LandingRow> rows) {

    static final class Serializer implements SimpleVersionedSerializer<PendingRows> {

        @Override
        public int getVersion() {
            return 1;
        }

        @Override
        public byte[] serialize(PendingRows state) throws IOException {
            ByteArrayOutputStream bytes = new ByteArrayOutputStream();
            try (DataOutputStream out = new DataOutputStream(bytes)) {
                out.writeInt(state.rows().size());
                for (LandingRow row : state.rows()) {
                    out.writeUTF(row.table());
                    out.writeUTF(row.key());
                    out.writeLong(row.version());
                    out.writeInt(row.payload().length);
                    out.write(row.payload());
                }
            }
            return bytes.toByteArray();
        }

        @Override
        public PendingRows deserialize(int version, byte[] serialized) throws IOException {
            if (version != 1) {
                throw new IOException("unknown version of the ClickHouse sink's pending rows: " + version);
            }
            try (DataInputStream in = new DataInputStream(new ByteArrayInputStream(serialized))) {
                int count = in.readInt();
                List<LandingRow> rows = new ArrayList<>(count);
                for (int i = 0; i < count; i++) {
                    String table = in.readUTF();
                    String key = in.readUTF();
                    long rowVersion = in.readLong();
                    byte[] payload = new byte[in.readInt()];
                    in.readFully(payload);
                    rows.add(new LandingRow(table, key, rowVersion, payload));
                }
                return new PendingRows(rows);
            }
        }
    }
}
