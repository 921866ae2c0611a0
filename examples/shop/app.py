"""A small shop service: FastAPI + SQLAlchemy on SQLite, with nothing about monitoring in it.

Run it under the distro:

    azora-otel-instrument uvicorn app:app --port 8000
    azora-otel-instrument python app.py          # same, port from PORT (default 8000)

``DATABASE_URL`` picks the database (default: a SQLite file next to the process).
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator

from fastapi import Depends, FastAPI, HTTPException
from pydantic import BaseModel
from sqlalchemy import ForeignKey, String, create_engine, func, select, text
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, sessionmaker

DATABASE_URL = os.environ.get("DATABASE_URL", "sqlite:///./shop.db")


class Base(DeclarativeBase):
    pass


class Customer(Base):
    __tablename__ = "customers"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100))


class Order(Base):
    __tablename__ = "orders"
    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"))
    item: Mapped[str] = mapped_column(String(100))
    quantity: Mapped[int]


engine = create_engine(
    DATABASE_URL,
    connect_args={"check_same_thread": False} if DATABASE_URL.startswith("sqlite") else {},
)
SessionLocal = sessionmaker(engine)
Base.metadata.create_all(engine)
with SessionLocal.begin() as setup:
    if setup.scalar(select(func.count()).select_from(Customer)) == 0:
        setup.add_all([Customer(id=1, name="Ada"), Customer(id=2, name="Grace")])


def db() -> Iterator[Session]:
    with SessionLocal() as session:
        yield session


class NewOrder(BaseModel):
    customer_id: int
    item: str
    quantity: int = 1


app = FastAPI(title="shop")


@app.get("/health")
def health() -> dict[str, str]:
    return {"status": "ok"}


@app.get("/orders")
def list_orders(session: Session = Depends(db)) -> list[dict[str, object]]:
    rows = session.scalars(select(Order).order_by(Order.id).limit(50))
    return [{"id": o.id, "item": o.item, "quantity": o.quantity} for o in rows]


@app.post("/orders", status_code=201)
def create_order(order: NewOrder, session: Session = Depends(db)) -> dict[str, object]:
    if session.get(Customer, order.customer_id) is None:
        raise HTTPException(status_code=404, detail="no such customer")
    row = Order(customer_id=order.customer_id, item=order.item, quantity=order.quantity)
    session.add(row)
    session.commit()
    return {"id": row.id}


@app.get("/orders/{order_id}")
def get_order(order_id: int, session: Session = Depends(db)) -> dict[str, object]:
    row = session.get(Order, order_id)
    if row is None:
        raise HTTPException(status_code=404, detail="no such order")
    return {"id": row.id, "item": row.item, "quantity": row.quantity}


@app.get("/customers/{customer_id}/orders")
def customer_orders(customer_id: int, session: Session = Depends(db)) -> list[int]:
    return list(session.scalars(select(Order.id).where(Order.customer_id == customer_id)))


@app.get("/reports/daily")
def daily_report(delay_ms: int = 0, session: Session = Depends(db)) -> dict[str, object]:
    """A heavy report; ``delay_ms`` stands in for the expensive part."""
    time.sleep(delay_ms / 1000)
    total = session.scalar(select(func.sum(Order.quantity))) or 0
    return {"items_sold": total}


@app.get("/reports/forecast")
def forecast(horizon: int = 1000, session: Session = Depends(db)) -> dict[str, object]:
    """An expensive query: its cost grows with ``horizon`` (a slow query at a few thousand)."""
    statement = text(
        "WITH RECURSIVE day(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM day WHERE n < :horizon) "
        "SELECT count(*), coalesce(sum(orders.quantity * day.n), 0) FROM orders, day"
    )
    rows, weighted = session.execute(statement, {"horizon": horizon}).one()
    return {"rows": rows, "weighted_quantity": weighted}


@app.get("/payments/{payment_id}")
def payment(payment_id: int) -> dict[str, object]:
    """Calls a payment provider that is down: an unhandled exception, a 500."""
    raise ConnectionError(f"payment provider unreachable for payment {payment_id}")


if __name__ == "__main__":
    import uvicorn

    uvicorn.run(app, host="127.0.0.1", port=int(os.environ.get("PORT", "8000")))
