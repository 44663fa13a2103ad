# Official Flink image plus PyFlink and the project's job code, for the compose stack.
FROM flink:2.2.1-java17
RUN apt-get update && apt-get install -y --no-install-recommends python3 python3-pip python3-venv maven \
    && ln -sf /usr/bin/python3 /usr/bin/python && rm -rf /var/lib/apt/lists/*
COPY requirements/flink.txt /opt/erpbi/requirements/flink.txt
RUN pip3 install --break-system-packages -r /opt/erpbi/requirements/flink.txt
COPY build/flink/pom.xml /opt/erpbi/build/flink/pom.xml
RUN mvn -q -B -f /opt/erpbi/build/flink/pom.xml dependency:copy-dependencies -DoutputDirectory=/opt/flink/lib
COPY . /opt/erpbi
RUN pip3 install --break-system-packages --no-deps -e /opt/erpbi
WORKDIR /opt/erpbi
