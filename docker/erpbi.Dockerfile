# The project's own services (simulator, connectors, migrations) on the official Python image.
FROM python:3.11-slim
COPY requirements/core.txt /opt/erpbi/requirements/core.txt
RUN pip install --no-cache-dir -r /opt/erpbi/requirements/core.txt
COPY . /opt/erpbi
RUN pip install --no-cache-dir --no-deps -e /opt/erpbi
WORKDIR /opt/erpbi
