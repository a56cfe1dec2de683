//! The insights loop: `GET ai-insights` queues a request in the SQS emulator (moto, started
//! by `make test`) and answers 202; the worker, fed as Lambda would, asks the AI agents
//! service (a local server here) or falls back to the rules; the next GET answers 200.

mod insights;
