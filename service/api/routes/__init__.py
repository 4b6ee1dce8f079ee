"""One ``APIRouter`` per resource; ``service.api.app`` includes them all."""
