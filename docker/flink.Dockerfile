# Official Flink image plus PyFlink and the project's job code, for the compose stack.
FROM flink:2.2.1-java17
RUN apt-get update && apt-get install -y --no-install-recommends python3 python3-pip python3-venv maven \
    && ln -sf /usr/bin/python3 /usr/bin/python && rm -rf /var/lib/apt/lists/*
COPY requirements/flink.txt /opt/erpbi/requirements/flink.txt
RUN pip3 install --break-system-packages -r /opt/erpbi/requirements/flink.txt
COPY build/flink/pom.xml /opt/erpbi/build/flink/pom.xml
RUN mvn -q -B -f /opt/erpbi/build/flink/pom.xml dependency:copy-dependencies -DoutputDirectory=/opt/flink/lib
COPY flink_jobs/clickhouse-sink /opt/erpbi/flink_jobs/clickhouse-sink
RUN mvn -q -B -f /opt/erpbi/flink_jobs/clickhouse-sink/pom.xml package -Derpbi.build.dir=/tmp/sink-build \
    && cp /tmp/sink-build/erpbi-flink-clickhouse-sink.jar /opt/flink/lib/ && rm -rf /tmp/sink-build
COPY . /opt/erpbi
RUN pip3 install --break-system-packages --no-deps -e /opt/erpbi \
    && mkdir -p /var/lib/erpbi/data/flink/checkpoints && chown -R flink:flink /var/lib/erpbi
# The image's own unprivileged user (its entrypoint runs Flink as it).
USER flink
WORKDIR /opt/erpbi
